#!/usr/bin/env bash
# Measures `qwarden run` against bubblewrap, the anchor, on this machine in one run, and prints
# the ratios. Needs: bwrap, hyperfine, gcc, make, python3, ssh-keygen (Debian: bubblewrap
# hyperfine build-essential python3 openssh-client).
#
#   bench/session.sh [RUNS]
#
# Rows:
#   true     a whole session of /bin/true (ledger start, observation, write set, end and signed
#            checkpoint included) vs `bwrap --ro-bind / / --dev /dev --proc /proc --unshare-all
#            --die-with-parent true`.
#   make     building a 60-file C project with make -j2 (every exec and write observed), bare,
#            under bwrap (project bound read-write) and under qwarden.
#   python   importing 120 modules of Python's standard library, bare, bwrap, qwarden (every open
#            observed, as the default profile does).
# make and python are also run with `observe_reads = false` (the "qw writes" column).
set -euo pipefail
RUNS=${1:-30}
cd "$(dirname "$0")/.."
for tool in bwrap hyperfine gcc make python3 ssh-keygen; do
    command -v "$tool" >/dev/null || { echo "bench/session.sh: $tool is not installed" >&2; exit 2; }
done
cargo build --release --locked -q -p qwarden
QW=$PWD/target/release/qwarden
# Not under /var: system directories are never writable by an agent.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/qwarden-bench.XXXXXX")
trap '[ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT
export HOME=$WORK/home QWARDEN_CONFIG_DIR=$WORK/config QWARDEN_STATE_DIR=$WORK/state \
    QWARDEN_SYSTEM_CONFIG_DIR=$WORK/etc-qwarden
P=$WORK/project
mkdir -p "$HOME" "$P/src"
ssh-keygen -q -t ed25519 -N '' -C bench -f "$WORK/key"
cat > "$P/agent.toml" <<'EOF'
[agent]
name = "bench"
version = "1.0.0"
publisher = "bench@lab.example"
description = "benchmark agent"

[filesystem]
read = ["."]
write = ["src"]

[runtime]
spawn_processes = true

[limits]
processes = 512
EOF
"$QW" init --tier sandbox >/dev/null
echo "bench@lab.example namespaces=\"qwarden-manifest\" $(cat "$WORK/key.pub")" > "$QWARDEN_CONFIG_DIR/allowed_signers"
"$QW" manifest sign --key "$WORK/key" "$P/agent.toml" >/dev/null
# The same workstation with `observe_reads = false`: only execs, write intents, path changes and
# escape attempts are notified, not every read-only open.
cp -r "$QWARDEN_CONFIG_DIR" "$WORK/config-writes"
sed -i 's/^observe_reads = true/observe_reads = false/' "$WORK/config-writes/profile.toml"

# A C project: 60 translation units and a Makefile.
C=$P/src/cproj
mkdir -p "$C"
for i in $(seq 1 60); do
    printf '#include <stdio.h>\n#include <string.h>\nint f%d(int x) { char b[64]; snprintf(b, sizeof b, "%%d", x); return (int)strlen(b) + %d; }\n' "$i" "$i" > "$C/f$i.c"
done
printf 'int main(void) { return 0; }\n' > "$C/main.c"
cat > "$C/Makefile" <<'EOF'
SRC := $(wildcard *.c)
OBJ := $(SRC:.c=.o)
app: $(OBJ)
	$(CC) -o $@ $(OBJ)
%.o: %.c
	$(CC) -O1 -c $< -o $@
clean:
	rm -f *.o app
EOF
MODULES="argparse,ast,asyncio,base64,bisect,bz2,calendar,cmath,cmd,code,codecs,collections,colorsys,compileall,concurrent.futures,configparser,contextlib,copy,csv,ctypes,dataclasses,datetime,decimal,difflib,dis,doctest,email,enum,filecmp,fileinput,fnmatch,fractions,ftplib,functools,gettext,glob,graphlib,gzip,hashlib,heapq,hmac,html,html.parser,http,http.client,imaplib,importlib,inspect,io,ipaddress,itertools,json,keyword,linecache,locale,logging,lzma,mailbox,math,mimetypes,multiprocessing,netrc,numbers,operator,optparse,os,pathlib,pdb,pickle,pickletools,pkgutil,platform,plistlib,poplib,pprint,profile,pstats,queue,quopri,random,re,reprlib,rlcompleter,sched,secrets,selectors,shelve,shlex,shutil,signal,smtplib,socket,sqlite3,ssl,statistics,string,stringprep,struct,subprocess,symtable,sysconfig,tabnanny,tarfile,tempfile,textwrap,threading,timeit,token,tokenize,trace,traceback,tracemalloc,typing,unittest,urllib.parse,urllib.request,uuid,uu,warnings,wave,weakref,webbrowser,xml.dom.minidom,xml.etree.ElementTree,zipfile,zipimport,zlib"
# The same interpreter everywhere (a pyenv shim under $HOME would not be visible in the sandbox).
PYTHON=${PYTHON:-/usr/bin/python3}
PY="$PYTHON -W ignore -c \"import $MODULES\""
BW="bwrap --ro-bind / / --bind $P $P --dev /dev --proc /proc --unshare-all --die-with-parent --chdir $P"
RUN="$QW run --quiet --agent $P/agent.toml --"
RUNW="env QWARDEN_CONFIG_DIR=$WORK/config-writes $RUN"
cd "$P"
hf() { hyperfine -N --style none --warmup 3 --runs "$RUNS" --export-json "$WORK/$1.json" "${@:2}" >/dev/null; }
hf true "bwrap --ro-bind / / --dev /dev --proc /proc --unshare-all --die-with-parent true" "$RUN /bin/true"
MK="make -s -C $C -B -j2 CC=gcc app"
hf make --prepare "make -s -C $C clean" "$MK" "$BW $MK" "$RUN $MK" "$RUNW $MK"
hf python "sh -c '$PY'" "$BW sh -c '$PY'" "$RUN sh -c '$PY'" "$RUNW sh -c '$PY'"
python3 - "$WORK" <<'EOF'
import json, sys
work = sys.argv[1]
def load(name):
    return [(r["command"], r["mean"], r["stddev"]) for r in json.load(open(f"{work}/{name}.json"))["results"]]
print(f"{'workload':<8} {'bare':>10} {'bwrap':>10} {'qwarden':>10} {'ratio':>7} {'qw writes':>10} {'ratio':>7}  goal")
t = load("true")
print(f"{'true':<8} {'':>10} {t[0][1]*1e3:>7.2f} ms {t[1][1]*1e3:>7.2f} ms {t[1][1]/t[0][1]:>6.2f}x {'':>10} {'':>7}  <= 1.5x")
for name in ["make", "python"]:
    r = load(name)
    print(f"{name:<8} {r[0][1]*1e3:>7.1f} ms {r[1][1]*1e3:>7.1f} ms {r[2][1]*1e3:>7.1f} ms {r[2][1]/r[1][1]:>6.2f}x {r[3][1]*1e3:>7.1f} ms {r[3][1]/r[1][1]:>6.2f}x  <= 1.10x")
print("ratio = qwarden / bwrap; 'qw writes' = qwarden with observe_reads = false")
EOF
