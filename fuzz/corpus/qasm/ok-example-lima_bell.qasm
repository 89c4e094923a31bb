// Bell state on physical qubits $0 and $1 of IBM's 5-qubit Lima, in its basis gates only
// (rz, sx, x, cx; rz(π/2) sx rz(π/2) is a Hadamard up to a global phase), for running with
// Lima's calibration: `--calibration ../shared/fixtures/ibm/props_lima.json`.
// Ideal counts: half "00", half "11"; with Lima's noise some "01" and "10" appear.
OPENQASM 3.0;
include "stdgates.inc";
bit[2] c;
rz(pi/2) $0;
sx $0;
rz(pi/2) $0;
cx $0, $1;
c[0] = measure $0;
c[1] = measure $1;
