OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
creg c[2];
gate foo(a, b) x, y {
  rz(a + b) x;
  cx x, y;
  U(a * 2, -b, pi) y;
}
gate bar(t) p, q { foo(t, t / 2) q, p; barrier p, q; h p; }
opaque magic(a) x;
foo(0.5, 0.25) q[1], q[0];
bar(sin(pi/3)^2) q[0], q[1];
measure q -> c;
