"""Reference distributions from qiskit-aer for qwarden-sim's noise tests.

For each IBM calibration snapshot in ``../shared/fixtures/ibm`` (lima, brisbane, torino) this
builds qiskit-aer's standard device noise model, ``NoiseModel.from_backend_properties`` (thermal
relaxation from T1/T2 and the gate length, composed with a depolarizing error fitted to the
reported gate error, plus asymmetric readout error), runs a few small circuits that are already
in the backend's basis gates on fixed physical qubits with the ``density_matrix`` method, and
writes one JSON fixture per circuit to ``crates/sim/tests/fixtures/aer/<backend>_<circuit>.json``:

* the circuit as OpenQASM 3 (``qiskit.qasm3.dumps``) and as an explicit instruction list
  (gate name, physical qubits, parameters; measure qubit -> clbit), so the Rust test does not
  depend on the QASM front end;
* the exact noisy outcome probabilities: the diagonal of Aer's final density matrix on the
  measured qubits, with Aer's own readout-error matrices (taken from the noise model) applied;
* counts from ``shots`` density-matrix shots with a fixed simulator seed, as a sanity check of
  the exact probabilities (the script refuses to write a fixture whose counts are further from
  the exact probabilities than shot noise allows);
* the SHA-256 of the snapshot it used and the versions of Python, qiskit, qiskit-aer,
  qiskit-ibm-runtime and numpy.

The tests never run this script; it is here to regenerate the fixtures. Run it from the root of
the repository (the one holding ``crates/``, with ``../shared`` beside it):

    python3 -m venv /tmp/aer \
      && /tmp/aer/bin/pip install qiskit==2.6.2 qiskit-aer==0.18.2 qiskit-ibm-runtime==0.51.0 \
      && /tmp/aer/bin/python crates/sim/dev/aer_reference.py

``qiskit-ibm-runtime`` is needed only for its ``BackendProperties`` class (qiskit 2 no longer
ships one), which is what ``NoiseModel.from_backend_properties`` expects.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import platform
import sys
from pathlib import Path

import numpy as np
import qiskit
import qiskit_aer
import qiskit_ibm_runtime
from qiskit import QuantumCircuit, qasm3, transpile
from qiskit.transpiler import CouplingMap
from qiskit_aer import AerSimulator
from qiskit_aer.noise import NoiseModel
from qiskit_ibm_runtime.models import BackendProperties
from qiskit_ibm_runtime.models.exceptions import BackendPropertyError

REPO = Path(__file__).resolve().parents[3]
DEFAULT_SNAPSHOTS = REPO.parent / "shared" / "fixtures" / "ibm"
DEFAULT_OUT = REPO / "crates" / "sim" / "tests" / "fixtures" / "aer"

SHOTS = 100_000
SEED_SIMULATOR = 20_250_226
SEED_TRANSPILER = 7

# Fixed physical layouts, chosen so that every two-qubit gate used has a sane reported error
# (several torino/brisbane couplers report gate_error = 1) and so that some qubits exercise the
# T2 > 2*T1 clipping: brisbane 102 and 119, torino 23 and 86 report T2 > 2*T1.
LAYOUTS = {
    "lima": {"bell": [0, 1], "ghz3": [0, 1, 2], "readout": [3, 4], "chain": [4]},
    "brisbane": {"bell": [101, 102], "ghz3": [101, 102, 103], "readout": [119, 118], "chain": [119]},
    "torino": {"bell": [23, 24], "ghz3": [22, 23, 24], "readout": [86, 87], "chain": [23]},
}


class Properties(BackendProperties):
    """``BackendProperties`` whose missing-property lookups raise ``ValueError``.

    ``from_backend_properties`` probes each qubit's frequency for its delay-relaxation pass and
    expects a ``ValueError`` when there is none (torino's snapshot lists no frequencies), but
    qiskit-ibm-runtime raises ``BackendPropertyError``. The pass only affects ``delay``
    instructions, which these circuits do not contain; gate and readout errors are unaffected.
    """

    def frequency(self, qubit):
        try:
            return super().frequency(qubit)
        except BackendPropertyError as err:
            raise ValueError(str(err)) from err

    def t1(self, qubit):
        try:
            return super().t1(qubit)
        except BackendPropertyError as err:
            raise ValueError(str(err)) from err

    def t2(self, qubit):
        try:
            return super().t2(qubit)
        except BackendPropertyError as err:
            raise ValueError(str(err)) from err


def logical_circuits() -> dict[str, QuantumCircuit]:
    """The circuits before layout, without measurements (those are added after transpiling)."""
    bell = QuantumCircuit(2, name="bell")
    bell.h(0)
    bell.cx(0, 1)

    ghz = QuantumCircuit(3, name="ghz3")
    ghz.h(0)
    ghz.cx(0, 1)
    ghz.cx(1, 2)

    # X on the first qubit, nothing on the second: isolates the asymmetric readout error
    # (prob_meas0_prep1 on the first, prob_meas1_prep0 on the second) plus the X gate's error.
    readout = QuantumCircuit(2, name="readout")
    readout.x(0)

    # A run of single-qubit gates that leaves much population in |1>, so amplitude damping, its
    # order relative to the depolarizing part, and the T2 clipping all show in the outcome.
    chain = QuantumCircuit(1, name="chain")
    chain.x(0)
    for k in range(6):
        chain.sx(0)
        chain.rz(0.37 * (k + 1), 0)
    chain.x(0)
    chain.sx(0)
    return {"bell": bell, "ghz3": ghz, "readout": readout, "chain": chain}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def gate_table(props: dict) -> dict[tuple[str, tuple[int, ...]], dict]:
    table = {}
    for gate in props["gates"]:
        params = {p["name"]: p["value"] for p in gate["parameters"]}
        table[(gate["gate"], tuple(gate["qubits"]))] = params
    return table


def instruction_list(circ: QuantumCircuit) -> list[dict]:
    out = []
    for inst in circ.data:
        op = inst.operation
        qubits = [circ.find_bit(q).index for q in inst.qubits]
        if op.name == "measure":
            clbit = circ.find_bit(inst.clbits[0]).index
            out.append({"op": "measure", "qubit": qubits[0], "clbit": clbit})
        elif op.name == "barrier":
            continue
        else:
            params = [float(p) for p in op.params]
            out.append({"op": "gate", "name": op.name, "qubits": qubits, "params": params})
    return out


def readout_matrices(noise: NoiseModel, qubits: list[int]) -> list[np.ndarray]:
    """Aer's readout error per qubit, as P[prepared][measured] (identity where Aer has none)."""
    found = {}
    for err in noise.to_dict().get("errors", []):
        if err.get("type") != "roerror":
            continue
        probs = np.array(err["probabilities"], dtype=float)
        for qs in err.get("gate_qubits", []):
            found[tuple(qs)] = probs
    return [found.get((q,), np.eye(2)) for q in qubits]


def exact_probabilities(rho: np.ndarray, readouts: list[np.ndarray]) -> np.ndarray:
    """Diagonal of rho (qubit i of the saved list = bit i), then each qubit's readout matrix."""
    n = len(readouts)
    p = np.real(np.diag(rho)).copy()
    p = p.reshape([2] * n)  # axis 0 is the most significant bit = qubit n-1
    for i, r in enumerate(readouts):
        axis = n - 1 - i
        p = np.moveaxis(np.tensordot(p, r, axes=([axis], [0])), -1, axis)
    return p.reshape(-1)


def bitstring(index: int, n: int) -> str:
    return format(index, f"0{n}b")


def run_backend(name: str, snapshots: Path, out: Path, shots: int) -> list[Path]:
    props_path = snapshots / f"props_{name}.json"
    conf_path = snapshots / f"conf_{name}.json"
    props_json = json.loads(props_path.read_text())
    conf_json = json.loads(conf_path.read_text())
    properties = Properties.from_dict(props_json)
    noise = NoiseModel.from_backend_properties(properties)
    gates = gate_table(props_json)
    basis = list(conf_json["basis_gates"])
    coupling = CouplingMap(conf_json["coupling_map"])
    sim = AerSimulator(method="density_matrix", noise_model=noise)

    written = []
    for circ_name, logical in logical_circuits().items():
        layout = LAYOUTS[name][circ_name]
        n = logical.num_qubits
        tc = transpile(
            logical,
            basis_gates=basis,
            coupling_map=coupling,
            initial_layout=layout,
            # The chain is already in the basis; level 0 keeps its gates as written instead of
            # merging them into one rotation.
            optimization_level=0 if circ_name == "chain" else 1,
            seed_transpiler=SEED_TRANSPILER,
        )
        # Every instruction must be a basis gate on qubits the snapshot lists, with a sane error.
        for inst in tc.data:
            qs = tuple(tc.find_bit(q).index for q in inst.qubits)
            key = (inst.operation.name, qs)
            if key not in gates:
                sys.exit(f"{name}/{circ_name}: {key} is not in the snapshot's gates")
            if gates[key].get("gate_error", 0) >= 0.5:
                sys.exit(f"{name}/{circ_name}: {key} has gate_error {gates[key]['gate_error']}")
            if not set(qs) <= set(layout):
                sys.exit(f"{name}/{circ_name}: transpiler left the layout: {qs}")

        # Exact: the density matrix of the measured qubits at the end (no noise on measure in
        # Aer's device model besides readout error), then readout error.
        dm_circ = tc.copy()
        dm_circ.save_density_matrix(qubits=layout, label="rho")
        rho = np.asarray(sim.run(dm_circ, shots=1).result().data(0)["rho"])
        pre = np.real(np.diag(rho))
        exact = exact_probabilities(rho, readout_matrices(noise, layout))

        # Sampled: the same circuit with measurements, qubit layout[i] -> clbit i.
        meas = QuantumCircuit(tc.num_qubits, n, name=circ_name)
        meas.compose(tc, inplace=True)
        for i, q in enumerate(layout):
            meas.measure(q, i)
        counts = sim.run(meas, shots=shots, seed_simulator=SEED_SIMULATOR).result().get_counts()
        counts = {k.replace(" ", ""): v for k, v in counts.items()}

        exact_map = {bitstring(i, n): float(exact[i]) for i in range(2**n)}
        tvd = 0.5 * sum(abs(counts.get(k, 0) / shots - p) for k, p in exact_map.items())
        # Expected TVD of a sample against its own distribution is below
        # 0.5 * sum sqrt(p(1-p)/N); allow 4x that plus a little.
        bound = 4 * 0.5 * sum(math.sqrt(p * (1 - p) / shots) for p in exact_map.values()) + 1e-3
        if tvd > bound:
            sys.exit(f"{name}/{circ_name}: counts are {tvd:.4f} from the exact probabilities")

        fixture = {
            "backend": props_json["backend_name"],
            "snapshot": props_path.name,
            "snapshot_sha256": sha256(props_path),
            "configuration": conf_path.name,
            "circuit": circ_name,
            "physical_qubits": layout,
            "num_clbits": n,
            "qasm3": qasm3.dumps(meas),
            "instructions": instruction_list(meas),
            "noise_recipe": "qiskit_aer.noise.NoiseModel.from_backend_properties(properties) "
            "(gate_error=True, readout_error=True, thermal_relaxation=True, temperature=0)",
            "method": "density_matrix",
            "probabilities": exact_map,
            "probabilities_before_readout": {
                bitstring(i, n): float(pre[i]) for i in range(2**n)
            },
            "shots": shots,
            "seed_simulator": SEED_SIMULATOR,
            "counts": dict(sorted(counts.items())),
            "counts_tvd_to_probabilities": tvd,
            "versions": {
                "python": platform.python_version(),
                "qiskit": qiskit.__version__,
                "qiskit_aer": qiskit_aer.__version__,
                "qiskit_ibm_runtime": qiskit_ibm_runtime.__version__,
                "numpy": np.__version__,
            },
        }
        path = out / f"{name}_{circ_name}.json"
        path.write_text(json.dumps(fixture, indent=1) + "\n")
        written.append(path)
        print(f"{path.relative_to(REPO)}: tvd(counts, exact) = {tvd:.5f}")
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--snapshots", type=Path, default=DEFAULT_SNAPSHOTS)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--shots", type=int, default=SHOTS)
    parser.add_argument("--backends", nargs="*", default=list(LAYOUTS))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.backends:
        run_backend(name, args.snapshots, args.out, args.shots)


if __name__ == "__main__":
    main()
