OPENQASM 3.0;
include "stdgates.inc";
qubit[2] q;
bit[2] c;
bit f;
h q;
c = measure q;
if (c[0]) x q[1];
if (!c[1]) x q[0];
if (c == 3) {
  x q[0];
  h q[1];
  barrier q;
  c[0] = measure q[0];
}
if (c[1] == 1) { z q[0]; } else { y q[0]; }
f = measure q[1];
if (f) rz(0.5) q[0]; else x q[1];
reset q;
