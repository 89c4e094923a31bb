#!/usr/bin/env bash
# Developer check, not part of `cargo test` (CI has no quantum SDKs): the real qiskit-ibm-runtime
# and qiskit-ionq, unmodified, inside a staging `qwarden run` session, submit through the gateway
# to the provider doubles; each job waits for approval, is approved with `qwarden approvals
# approve`, and runs with the real key swapped in.
#
#   python3 -m venv /tmp/sdkvenv
#   /tmp/sdkvenv/bin/pip install qiskit==2.6.2 qiskit-ibm-runtime==0.51.0 qiskit-ionq==1.1.1
#   crates/gateway/dev/sdk_session_check.sh [/tmp/sdkvenv]
#
# Exit status 0 when both SDKs got their counts back.
set -euo pipefail
cd "$(dirname "$0")/../../.."
venv=${1:-/tmp/sdkvenv}
[[ -x $venv/bin/python ]] || { echo "no venv at $venv (see the header of this script)" >&2; exit 2; }
python_home=$(dirname "$(dirname "$(readlink -f "$venv/bin/python")")")

cargo build -q -p qwarden -p qwarden-provider-doubles --example serve
Q=$PWD/target/debug/qwarden
work=$(mktemp -d)
trap 'exec 3>&-; rm -rf "$work"' EXIT
mkfifo "$work/serve.in"
target/debug/examples/serve <"$work/serve.in" >"$work/serve.out" 2>"$work/serve.err" &
exec 3>"$work/serve.in"
until grep -q READY "$work/serve.out"; do read -r -t 0.2 <> <(:) || true; done
# shellcheck disable=SC1090
source <(grep = "$work/serve.out" | sed 's/^/export /')

export HOME=$work/home
mkdir -p "$HOME" "$work/project/out"
"$Q" init --tier staging >/dev/null
profile=$HOME/.config/qwarden/profile.toml
ssh-keygen -q -t ed25519 -N '' -C publisher -f "$HOME/publisher"
ssh-keygen -q -t ed25519 -N '' -C alice -f "$HOME/alice"
python3 - "$profile" "$venv" "$python_home" <<'EOF'
import os, sys
path, venv, python_home = sys.argv[1:]
s = open(path).read()
e = os.environ
s = s.replace('endpoints = ["https://quantum.cloud.ibm.com", "https://iam.cloud.ibm.com"]',
              f'endpoints = ["{e["IBM_BASE_URL"]}", "{e["IBM_IAM_URL"]}"]\ninstance = "{e["IBM_INSTANCE_CRN"]}"')
s = s.replace('endpoints = ["https://api.ionq.co"]', f'endpoints = ["{e["IONQ_BASE_URL"]}"]')
s = s.replace("desktop = true", "desktop = false")
s = s.replace("read_only = []", f'read_only = ["{venv}", "{python_home}"]')
s += f'\n[[approvers]]\nname = "alice"\nkey = "{open(e["HOME"] + "/alice.pub").read().strip()}"\nroles = ["approver"]\n'
open(path, "w").write(s)
EOF
echo "lab namespaces=\"qwarden-manifest\" $(cut -d' ' -f1,2 "$HOME/publisher.pub")" >>"$HOME/.config/qwarden/allowed_signers"
cat >"$work/project/agent.toml" <<'EOF'
[agent]
name = "sdk-agent"
version = "1.0.0"
publisher = "lab"
description = "runs the real qiskit SDKs"

[filesystem]
read = ["."]
write = ["out"]

[runtime]
spawn_processes = true

[limits]
memory_mb = 2048
processes = 128

[qpu]
providers = ["ibm", "ionq"]
backends = ["ibm:ibm_lima", "ionq:simulator"]
max_shots = 2000

[qpu.budget]
shots = 10000
jobs = 10
EOF
"$Q" manifest sign --key "$HOME/publisher" "$work/project/agent.toml" >/dev/null
"$Q" secrets init >/dev/null
printf %s "$IBM_API_KEY" | "$Q" secrets add ibm --provider ibm >/dev/null
printf %s "$IONQ_API_KEY" | "$Q" secrets add ionq --provider ionq >/dev/null
cat >"$work/project/agent.py" <<'EOF'
import warnings
warnings.simplefilter("ignore")
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime import QiskitRuntimeService, SamplerV2
from qiskit_ionq import IonQProvider
backend = QiskitRuntimeService().backend("ibm_lima")
qc = QuantumCircuit(2); qc.h(0); qc.cx(0, 1); qc.measure_all()
isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(qc)
print("ibm counts", SamplerV2(mode=backend).run([isa], shots=1000).result()[0].data.meas.get_counts(), flush=True)
qc2 = QuantumCircuit(2, 2); qc2.h(0); qc2.cx(0, 1); qc2.measure([0, 1], [0, 1])
print("ionq counts", IonQProvider().get_backend("ionq_simulator").run(qc2, shots=500).get_counts(), flush=True)
EOF

(cd "$work/project" && "$Q" run --agent agent.toml -- "$venv/bin/python" agent.py >"$work/run.out" 2>"$work/run.err") &
session=$!
# A human approves each request as it appears (here: as soon as `approvals list` shows it).
approved=0
while ((approved < 2)) && kill -0 "$session" 2>/dev/null; do
  for id in $("$Q" approvals list --json | python3 -c 'import json,sys; print(" ".join(r["id"] for r in json.load(sys.stdin) if r["status"]["status"] == "pending"))'); do
    "$Q" approvals approve "$id" --key "$HOME/alice"
    approved=$((approved + 1))
  done
  read -r -t 0.5 <> <(:) || true
done
wait "$session"
cat "$work/run.out"
grep -q "^ibm counts {" "$work/run.out" && grep -q "^ionq counts {" "$work/run.out"
echo "both SDKs ran their jobs through the gateway after approval"
