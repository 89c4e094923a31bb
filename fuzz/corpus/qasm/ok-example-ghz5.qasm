// 5-qubit GHZ state (|00000⟩ + |11111⟩)/√2: expect about half "00000" and half "11111".
OPENQASM 3.0;
include "stdgates.inc";
qubit[5] q;
bit[5] c;
h q[0];
cx q[0], q[1];
cx q[1], q[2];
cx q[2], q[3];
cx q[3], q[4];
barrier q;
c = measure q;
