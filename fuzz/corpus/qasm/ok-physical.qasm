OPENQASM 3.0;
include "stdgates.inc";
bit[3] c;
h $0;
cx $0, $7;
barrier;
c[0] = measure $0;
c[1] = measure $7;
