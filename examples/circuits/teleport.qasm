// Quantum teleportation with mid-circuit measurement and classically controlled corrections.
// q[0] holds u3(0.3, 0.2, 0.1)|0⟩; after teleportation q[2] holds it, and undoing the
// preparation on q[2] gives |0⟩: the leftmost bit (c2) is always 0, while c1 and c0 are
// uniformly random. Counts are printed as "c2 c1 c0".
OPENQASM 2.0;
include "qelib1.inc";
qreg q[3];
creg c0[1];
creg c1[1];
creg c2[1];
u3(0.3,0.2,0.1) q[0];
barrier q;
h q[1];
cx q[1],q[2];
cx q[0],q[1];
h q[0];
measure q[0] -> c0[0];
measure q[1] -> c1[0];
if(c1==1) x q[2];
if(c0==1) z q[2];
u3(-0.3,-0.1,-0.2) q[2];
measure q[2] -> c2[0];
