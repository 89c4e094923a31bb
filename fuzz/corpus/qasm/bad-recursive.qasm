OPENQASM 2.0;
include "qelib1.inc";
qreg q[1];
gate g a { h a; g a; }
g q[0];
