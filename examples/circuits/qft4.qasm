// 4-qubit quantum Fourier transform (Qiskit's QFT, with the final swaps) of the basis state |5⟩
// (q[0] and q[2] set): the result has equal amplitudes on all 16 basis states, so the counts
// are uniform (about 1/16 each).
OPENQASM 2.0;
include "qelib1.inc";
qreg q[4];
creg c[4];
x q[0];
x q[2];
barrier q;
h q[3];
cp(pi/2) q[3],q[2];
cp(pi/4) q[3],q[1];
cp(pi/8) q[3],q[0];
h q[2];
cp(pi/2) q[2],q[1];
cp(pi/4) q[2],q[0];
h q[1];
cp(pi/2) q[1],q[0];
h q[0];
swap q[0],q[3];
swap q[1],q[2];
measure q -> c;
