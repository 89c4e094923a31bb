#!/usr/bin/env bash
# Times `qwarden inventory` on a venv with qiskit against the same check written in Python, in
# the same run, and prints the ratio (BENCHMARKS.md has the figures). Needs python3 with venv and
# hyperfine. The venv (INVENTORY_VENV, default /tmp/sdkvenv) gets qiskit 2.6.2,
# qiskit-ibm-runtime 0.51.0 and qiskit-ionq on first use.
#
#   bench/inventory.sh [RUNS]
#
# qwarden: the whole `qwarden inventory --json --root VENV --depth 0` process with an empty home
# (host facts, PCI devices, the system Python installations, the venv: every quantum package's
# METADATA read and its installed files hashed against its RECORD). The anchor: the venv's own
# Python checking the same packages' RECORD hashes with importlib.metadata and hashlib, which is
# what a Python tool doing the same job would run. Then `cargo bench -p qwarden-bundle --bench
# inventory` times the venv scan alone, in-process. Page cache warm in every case.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-20}
VENV=${INVENTORY_VENV:-/tmp/sdkvenv}
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import qiskit, qiskit_ibm_runtime' 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q qiskit==2.6.2 qiskit-ibm-runtime==0.51.0 qiskit-ionq
fi
cargo build --release --locked -q -p qwarden
QW=${CARGO_TARGET_DIR:-$PWD/target}/release/qwarden
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir "$WORK/home"
QWCMD="env -i HOME=$WORK/home QWARDEN_CONFIG_DIR=$WORK/config QWARDEN_STATE_DIR=$WORK/state $QW inventory --json --root $VENV --depth 0"
$QWCMD > "$WORK/inventory.json"
# The quantum packages qwarden found in the venv, and how many files it hashed.
read -r PKGS HASHED < <(python3 - "$WORK/inventory.json" "$VENV" <<'EOF'
import json, os, sys
inv = json.load(open(sys.argv[1]))
venv = os.path.realpath(sys.argv[2])
env = next(e for e in inv["python_environments"] if e["path"] == venv)
pkgs = [p for p in env["quantum_packages"]]
hashed = sum(p["files"]["ok"] + p["files"]["modified"] + p["files"]["missing"] for p in pkgs)
print(",".join(p["name"] for p in pkgs), hashed)
EOF
)
cat > "$WORK/anchor.py" <<'EOF'
import base64, hashlib, re, sys
from importlib.metadata import distributions
wanted = set(sys.argv[1].split(","))
ok = bad = 0
for dist in distributions():
    if re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower() not in wanted:
        continue
    for f in dist.files or []:
        if not f.hash:
            continue
        try:
            data = f.locate().read_bytes()
        except OSError:
            bad += 1
            continue
        digest = base64.urlsafe_b64encode(hashlib.new(f.hash.mode, data).digest()).rstrip(b"=").decode()
        if digest == f.hash.value:
            ok += 1
        else:
            bad += 1
print(ok + bad)
EOF
ANCHOR="$VENV/bin/python $WORK/anchor.py $PKGS"
CHECKED=$($ANCHOR)
echo "packages: $PKGS; files hashed: qwarden $HASHED, anchor $CHECKED"
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$WORK/times.json" \
    -n "qwarden inventory" "$QWCMD" -n "python importlib.metadata" "$ANCHOR" > /dev/null
python3 - "$WORK/times.json" <<'EOF'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
q, a = r["qwarden inventory"], r["python importlib.metadata"]
ms = lambda x: f'{x["mean"] * 1e3:7.1f} ms ± {x["stddev"] * 1e3:4.1f}'
print(f'qwarden inventory (whole process)      {ms(q)}')
print(f'python importlib.metadata (anchor)     {ms(a)}')
print(f'qwarden / anchor                       {q["mean"] / a["mean"]:.2f}x   goal: well under 1 s')
EOF
QWARDEN_BENCH_VENV=$VENV cargo bench -q -p qwarden-bundle --bench inventory 2>/dev/null | grep -v '^$'
