// Grover search over 2 qubits for the marked state |11⟩: one iteration finds it with
// certainty, so every shot reads "11".
OPENQASM 3.0;
include "stdgates.inc";
qubit[2] q;
bit[2] c;
h q;
// Oracle: flip the phase of |11⟩.
cz q[0], q[1];
// Diffuser: reflect about the uniform superposition.
h q;
x q;
cz q[0], q[1];
x q;
h q;
c = measure q;
