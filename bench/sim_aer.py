"""Writes the benchmark circuits and times qiskit-aer on them (bench/sim.sh runs this).

    python bench/sim_aer.py WORKDIR SNAPSHOT_DIR

For each row it writes WORKDIR/<row>.qasm (the exact circuit both simulators run) and prints
one JSON line: {"row", "seconds"} where seconds is the wall time of AerSimulator.run(...).result()
alone (Python start-up and circuit construction excluded, which favours Aer).
Rows: H layer + QFT with swaps on 20, 22, 24, 25 qubits (statevector, 1000 shots), and GHZ on
8, 10, 12 connected physical qubits of IBM Torino in its basis gates, with Aer's device noise
model from the same calibration snapshot (density matrix, 4000 shots). Both use 2 threads.
"""

import json
import math
import sys
import time
from pathlib import Path

from qiskit import QuantumCircuit, qasm2, qasm3, transpile
from qiskit.transpiler import CouplingMap
from qiskit_aer import AerSimulator
from qiskit_aer.noise import NoiseModel
from qiskit_ibm_runtime.models import BackendProperties
from qiskit_ibm_runtime.models.exceptions import BackendPropertyError


class Properties(BackendProperties):
    """Torino's snapshot has no qubit frequencies; Aer expects ValueError for a missing one."""

    def frequency(self, qubit):
        try:
            return super().frequency(qubit)
        except BackendPropertyError as err:
            raise ValueError(str(err)) from err


def qft_circuit(n: int) -> QuantumCircuit:
    qc = QuantumCircuit(n, n)
    qc.h(range(n))
    for j in reversed(range(n)):
        qc.h(j)
        for k in reversed(range(j)):
            qc.cp(math.pi / 2 ** (j - k), k, j)
    for i in range(n // 2):
        qc.swap(i, n - 1 - i)
    qc.measure(range(n), range(n))
    return qc


def line(coupling: CouplingMap, n: int) -> list[int]:
    """A path of n connected physical qubits (depth-first from each start)."""
    graph = coupling.graph.to_undirected()
    for start in range(graph.num_nodes()):
        stack = [[start]]
        while stack:
            path = stack.pop()
            if len(path) == n:
                return path
            for nxt in graph.neighbors(path[-1]):
                if nxt not in path:
                    stack.append(path + [nxt])
    raise SystemExit(f"no line of {n} qubits")


def main() -> None:
    work, snapshots = Path(sys.argv[1]), Path(sys.argv[2])
    for n in (20, 22, 24, 25):
        qc = qft_circuit(n)
        (work / f"qft{n}.qasm").write_text(qasm2.dumps(qc))
        sim = AerSimulator(method="statevector", max_parallel_threads=2)
        qc = transpile(qc, sim, optimization_level=0)
        start = time.perf_counter()
        sim.run(qc, shots=1000, seed_simulator=1).result()
        print(json.dumps({"row": f"qft{n}", "seconds": time.perf_counter() - start}), flush=True)
    props = json.loads((snapshots / "props_torino.json").read_text())
    conf = json.loads((snapshots / "conf_torino.json").read_text())
    noise = NoiseModel.from_backend_properties(Properties.from_dict(props))
    coupling = CouplingMap(conf["coupling_map"])
    for n in (8, 10, 12):
        qc = QuantumCircuit(n, n)
        qc.h(0)
        for i in range(n - 1):
            qc.cx(i, i + 1)
        qc.measure(range(n), range(n))
        layout = line(coupling, n)
        tqc = transpile(qc, basis_gates=conf["basis_gates"], coupling_map=coupling,
                        initial_layout=layout, optimization_level=0, seed_transpiler=1)
        (work / f"ghz{n}.qasm").write_text(qasm3.dumps(tqc))
        sim = AerSimulator(method="density_matrix", noise_model=noise, max_parallel_threads=2)
        start = time.perf_counter()
        sim.run(tqc, shots=4000, seed_simulator=1).result()
        print(json.dumps({"row": f"ghz{n}", "seconds": time.perf_counter() - start}), flush=True)


if __name__ == "__main__":
    main()
