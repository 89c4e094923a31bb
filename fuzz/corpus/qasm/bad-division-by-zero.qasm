OPENQASM 2.0;
include "qelib1.inc";
qreg q[1];
gate g(a) x { rz(1/a) x; }
g(0) q[0];
