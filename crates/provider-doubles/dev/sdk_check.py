#!/usr/bin/env python3
"""Developer check: run the real provider SDKs against the provider doubles.

Not part of `cargo test` (CI has no SDKs). It starts `examples/serve.rs`, then runs, each in a
fresh Python process with only the documented environment (see
`shared/fixtures/provider-traffic/README.md`), the SDK flows the transcripts recorded:

* qiskit-ibm-runtime: `QiskitRuntimeService()` from the environment, `service.backend("ibm_lima")`,
  transpile a Bell circuit, `SamplerV2(mode=backend).run([isa], shots=1000).result()`; then a
  job the double fails, one it cancels, and one it refuses with 403.
* qiskit-ionq: `IonQProvider()` from the environment, a Bell circuit on `ionq_simulator` and on
  `ionq_qpu.aria-1` (whose `status()` reads the characterization); then a failed, a canceled and
  a refused job.

Usage (from the repository root):

    python3 -m venv /tmp/sdkvenv
    /tmp/sdkvenv/bin/pip install qiskit==2.6.2 qiskit-ibm-runtime==0.51.0 qiskit-ionq==1.1.1
    /tmp/sdkvenv/bin/python crates/provider-doubles/dev/sdk_check.py

It builds the example with cargo unless `--serve PATH` names a built binary. Exit status 0 when
every flow passed. The IonQ SDK polls every 5 s, so the whole check takes about a minute.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))

IBM_PRELUDE = textwrap.dedent(
    """
    import warnings
    warnings.simplefilter("ignore")
    from qiskit import QuantumCircuit
    from qiskit.transpiler import generate_preset_pass_manager
    from qiskit_ibm_runtime import QiskitRuntimeService, SamplerV2

    service = QiskitRuntimeService()
    backend = service.backend("ibm_lima")
    bell = QuantumCircuit(2, name="bell")
    bell.h(0)
    bell.cx(0, 1)
    bell.measure_all()
    isa = generate_preset_pass_manager(optimization_level=1, backend=backend).run(bell)
    sampler = SamplerV2(mode=backend)
    """
)

IBM_FLOWS = {
    "ibm: Bell job on ibm_lima completes with counts": (
        None,
        IBM_PRELUDE
        + textwrap.dedent(
            """
            props = backend.properties()
            assert props.last_update_date is not None, "no calibration date"
            job = sampler.run([isa], shots=1000)
            result = job.result()
            counts = result[0].data.meas.get_counts()
            assert sum(counts.values()) == 1000, counts
            assert set(counts) <= {"00", "11"}, counts
            assert job.status() == "DONE", job.status()
            print("job", job.job_id(), "status", job.status(), "counts", counts,
                  "calibration", props.last_update_date)
            """
        ),
    ),
    "ibm: failed job raises RuntimeJobFailureError with the reason": (
        "ibm fail-next",
        IBM_PRELUDE
        + textwrap.dedent(
            """
            from qiskit_ibm_runtime.exceptions import RuntimeJobFailureError
            job = sampler.run([isa], shots=100)
            try:
                job.result()
            except RuntimeJobFailureError as e:
                assert "Error raised by the IBM double" in str(e), str(e)
                assert job.status() == "ERROR", job.status()
                print("raised:", str(e)[:160])
            else:
                raise AssertionError("no error")
            """
        ),
    ),
    "ibm: cancelled job raises RuntimeInvalidStateError": (
        "ibm cancel-next",
        IBM_PRELUDE
        + textwrap.dedent(
            """
            from qiskit_ibm_runtime.exceptions import RuntimeInvalidStateError
            job = sampler.run([isa], shots=100)
            try:
                job.result()
            except RuntimeInvalidStateError as e:
                assert job.status() == "CANCELLED", job.status()
                print("raised:", str(e)[:160])
            else:
                raise AssertionError("no error")
            """
        ),
    ),
    "ibm: refused submission (403) raises with the body text": (
        "ibm reject-next 403 denied: shots exceed the grant",
        IBM_PRELUDE
        + textwrap.dedent(
            """
            try:
                sampler.run([isa], shots=1000)
            except Exception as e:
                assert "403" in str(e) and "denied: shots exceed the grant" in str(e), str(e)
                print("raised:", type(e).__name__, str(e)[:200])
            else:
                raise AssertionError("no error")
            """
        ),
    ),
}

IONQ_PRELUDE = textwrap.dedent(
    """
    import warnings
    warnings.simplefilter("ignore")
    from qiskit import QuantumCircuit
    from qiskit_ionq import IonQProvider

    provider = IonQProvider()
    bell = QuantumCircuit(2, 2, name="bell")
    bell.h(0)
    bell.cx(0, 1)
    bell.measure([0, 1], [0, 1])
    """
)

IONQ_FLOWS = {
    "ionq: Bell job on the simulator completes with counts": (
        None,
        IONQ_PRELUDE
        + textwrap.dedent(
            """
            backend = provider.get_backend("ionq_simulator")
            assert backend.num_qubits == 29, backend.num_qubits
            job = backend.run(bell, shots=1000)
            counts = job.result().get_counts()
            assert sum(counts.values()) == 1000, counts
            assert set(counts) <= {"00", "11"}, counts
            print("job", job.job_id(), "status", job.status(), "counts", counts)
            """
        ),
    ),
    "ionq: Bell job on qpu.aria-1 completes (status() reads the characterization)": (
        None,
        IONQ_PRELUDE
        + textwrap.dedent(
            """
            backend = provider.get_backend("ionq_qpu.aria-1")
            assert backend.status() is True
            job = backend.run(bell, shots=1000)
            counts = job.result().get_counts()
            assert sum(counts.values()) == 1000, counts
            assert set(counts) <= {"00", "11"}, counts
            print("job", job.job_id(), "status", job.status(), "counts", counts)
            """
        ),
    ),
    "ionq: failed job raises IonQJobFailureError with code and error": (
        "ionq fail-next",
        IONQ_PRELUDE
        + textwrap.dedent(
            """
            from qiskit_ionq.exceptions import IonQJobFailureError
            job = provider.get_backend("ionq_simulator").run(bell, shots=100)
            try:
                job.result()
            except IonQJobFailureError as e:
                assert "InternalError" in str(e) and "Error raised by the IonQ double" in str(e), str(e)
                print("raised:", str(e)[:160])
            else:
                raise AssertionError("no error")
            """
        ),
    ),
    "ionq: canceled job raises IonQJobStateError": (
        "ionq cancel-next",
        IONQ_PRELUDE
        + textwrap.dedent(
            """
            from qiskit_ionq.exceptions import IonQJobStateError
            job = provider.get_backend("ionq_simulator").run(bell, shots=100)
            try:
                job.result()
            except IonQJobStateError as e:
                print("raised:", str(e)[:160])
            else:
                raise AssertionError("no error")
            """
        ),
    ),
    "ionq: refused submission (403) raises IonQAPIError": (
        "ionq reject-next 403 denied: shots exceed the grant",
        IONQ_PRELUDE
        + textwrap.dedent(
            """
            from qiskit_ionq.exceptions import IonQAPIError
            try:
                provider.get_backend("ionq_simulator").run(bell, shots=1000)
            except IonQAPIError as e:
                assert e.status_code == 403 and "denied" in e.message, repr(e)
                print("raised:", repr(e)[:200])
            else:
                raise AssertionError("no error")
            """
        ),
    ),
}


def start_server(serve):
    proc = subprocess.Popen(
        [serve], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    env = {}
    for line in proc.stdout:
        line = line.strip()
        if line == "READY":
            return proc, env
        name, _, value = line.partition("=")
        env[name] = value
    raise SystemExit("the serve example exited before READY")


def control(proc, command):
    proc.stdin.write(command + "\n")
    proc.stdin.flush()
    answer = proc.stdout.readline().strip()
    if answer != "OK":
        raise SystemExit(f"serve refused {command!r}: {answer}")


def run_flow(name, script, env, workdir):
    path = os.path.join(workdir, "flow.py")
    with open(path, "w") as f:
        f.write(script)
    result = subprocess.run(
        [sys.executable, path], env=env, cwd=workdir, capture_output=True, text=True, timeout=300
    )
    ok = result.returncode == 0
    print(("PASS " if ok else "FAIL ") + name)
    for line in result.stdout.strip().splitlines():
        print("     " + line)
    if not ok:
        print(textwrap.indent(result.stderr.strip()[-3000:], "     "))
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", help="a built examples/serve binary (default: cargo builds it)")
    parser.add_argument("--only", choices=["ibm", "ionq"], help="run one provider's flows")
    args = parser.parse_args()
    serve = args.serve
    if serve is None:
        subprocess.run(
            ["cargo", "build", "-q", "-p", "qwarden-provider-doubles", "--example", "serve"],
            cwd=ROOT,
            check=True,
        )
        serve = os.path.join(ROOT, "target", "debug", "examples", "serve")
    proc, urls = start_server(serve)
    failures = 0
    try:
        with tempfile.TemporaryDirectory() as home:
            base = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                # No saved accounts, no .env files, no proxies.
                "HOME": home,
                "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost",
            }
            ibm_env = dict(
                base,
                QISKIT_IBM_TOKEN=urls["IBM_API_KEY"],
                QISKIT_IBM_INSTANCE=urls["IBM_INSTANCE_CRN"],
                QISKIT_IBM_URL=urls["IBM_SDK_RUNTIME_URL"],
                IAM_URL=urls["IBM_IAM_URL"],
                QISKIT_FUNCTIONS_EXPERIMENTAL="1",
            )
            ionq_env = dict(
                base, IONQ_API_URL=urls["IONQ_API_URL"], IONQ_API_KEY=urls["IONQ_API_KEY"]
            )
            flows = []
            if args.only in (None, "ibm"):
                flows += [(n, c, s, ibm_env) for n, (c, s) in IBM_FLOWS.items()]
            if args.only in (None, "ionq"):
                flows += [(n, c, s, ionq_env) for n, (c, s) in IONQ_FLOWS.items()]
            for name, command, script, env in flows:
                if command:
                    control(proc, command)
                if not run_flow(name, script, env, home):
                    failures += 1
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    print(f"{len(flows) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
