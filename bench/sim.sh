#!/usr/bin/env bash
# Times qwarden's local backend against Qiskit Aer on the same machine, in the same run, and
# prints the ratio table (BENCHMARKS.md has the figures). Needs python3 with venv; Aer is
# installed into a virtual environment (AER_VENV, default /tmp/qwarden-aer) on first use.
#
#   bench/sim.sh
#
# Rows: H layer + QFT with swaps, 1000 shots, statevector, 20/22/24/25 qubits; GHZ on 8/10/12
# connected qubits of IBM Torino with noise from its calibration snapshot, density matrix, 4000
# shots. Both simulators get 2 threads. qwarden's time is the whole `qwarden submit` process
# (start-up, parsing, noise model, simulation); Aer's is its run() call alone. Peak memory is the
# maximum RSS of the qwarden process, against the size of the state it holds.
set -euo pipefail
cd "$(dirname "$0")/.."
SNAP=${SNAPSHOTS:-../shared/fixtures/ibm}
VENV=${AER_VENV:-/tmp/qwarden-aer}
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import qiskit_aer, qiskit_ibm_runtime' 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q qiskit==2.6.2 qiskit-aer==0.18.2 qiskit-ibm-runtime==0.51.0
fi
cargo build --release --locked -q -p qwarden
QW=$PWD/target/release/qwarden
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$VENV/bin/python" bench/sim_aer.py "$WORK" "$SNAP" > "$WORK/aer.jsonl"
measure() { # name, args… → seconds and max RSS in KiB
    /usr/bin/time -f "%e %M" -o "$WORK/$1.time" "$QW" submit --json --threads 2 --seed 1 "${@:2}" > /dev/null
    cat "$WORK/$1.time"
}
for n in 20 22 24 25; do
    echo "qft$n $(measure "qft$n" --shots 1000 "$WORK/qft$n.qasm")" >> "$WORK/ours.txt"
done
for n in 8 10 12; do
    echo "ghz$n $(measure "ghz$n" --shots 4000 --backend local:density --calibration "$SNAP/props_torino.json" "$WORK/ghz$n.qasm")" >> "$WORK/ours.txt"
done
python3 - "$WORK" <<'EOF'
import json, sys
work = sys.argv[1]
aer = {r["row"]: r["seconds"] for r in map(json.loads, open(f"{work}/aer.jsonl"))}
print(f"{'row':<8} {'qwarden':>9} {'aer':>9} {'ratio':>7} {'peak RSS':>10} {'state':>10} {'RSS/state':>9}  goal")
for line in open(f"{work}/ours.txt"):
    row, secs, rss = line.split()
    n = int(row[3:])
    state = 16 * (2 ** n if row.startswith("qft") else 4 ** n)
    ratio = float(secs) / aer[row]
    print(f"{row:<8} {float(secs):>8.2f}s {aer[row]:>8.2f}s {ratio:>6.2f}x {int(rss)/1024:>8.0f}MB {state/2**20:>8.0f}MB {int(rss)*1024/state:>8.2f}x  <= 1.0x time, <= 1.1x memory")
EOF
