"""Runs the Bell circuit on qwarden's local backend through the session's job gateway.

Standard library only: the gateway's native API takes OpenQASM and answers with counts. Inside
`qwarden run` the session provides QWARDEN_GATEWAY_URL and the handle QWARDEN_GATEWAY_TOKEN; the
job is checked against the agent's grant and recorded in the audit ledger.
"""
import json
import os
import urllib.request

BELL = """OPENQASM 3.0;
include "stdgates.inc";
qubit[2] q;
bit[2] c;
h q[0];
cx q[0], q[1];
c = measure q;
"""


def submit(qasm, shots=1000, seed=7, backend="local:statevector"):
    body = json.dumps({"backend": backend, "qasm": qasm, "shots": shots, "seed": seed}).encode()
    request = urllib.request.Request(
        os.environ["QWARDEN_GATEWAY_URL"] + "/v1/jobs",
        data=body,
        headers={
            "Authorization": "Bearer " + os.environ["QWARDEN_GATEWAY_TOKEN"],
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request) as response:
        return json.load(response)


if __name__ == "__main__":
    job = submit(BELL)
    print(f"job {job['id']} on {job['backend']}: {job['counts']}")
