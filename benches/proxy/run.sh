#!/usr/bin/env bash
# Proxy benchmark (issue 5 targets). Keep-alive HTTPS/1.1 GETs of 1 KiB bodies:
#   client (loadgen) -> [authtap proxy intercepting | mitmdump | nothing] -> local rustls upstream
# Measures throughput (32 connections), latency at low load (1 connection, sequential),
# and authtap's peak RSS while 1,000 connections are busy. Writes benches/proxy/RESULTS.md.
#
# Usage: benches/proxy/run.sh [--quick]     (needs network once for `pip install mitmproxy`)
# Env: DUR (seconds per throughput run, default 10), CONNS (default 32), SKIP_MITM=1,
#      MITM_VENV (where mitmproxy is installed), AUTHTAP_BIN + LOADGEN_BIN (skip the build),
#      RESULTS (output file, default benches/proxy/RESULTS.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DUR=${DUR:-10}
CONNS=${CONNS:-32}
LAT_DUR=${LAT_DUR:-5}
[[ "${1:-}" == "--quick" ]] && DUR=3 && LAT_DUR=2
W=$(mktemp -d /tmp/authtap-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

if [[ -n "${AUTHTAP_BIN:-}" && -n "${LOADGEN_BIN:-}" ]]; then
  AUTHTAP=$AUTHTAP_BIN; LOADGEN=$LOADGEN_BIN   # e.g. debug builds, to check the script itself
else
echo "== building (release)"
cargo build --release --bin authtap 2>&1 | tail -1
LOADGEN=$(cargo bench --no-run --bench proxy_loadgen --message-format=json 2>/dev/null \
  | python3 -c 'import sys,json
for l in sys.stdin:
    try: m=json.loads(l)
    except Exception: continue
    if m.get("reason")=="compiler-artifact" and m.get("target",{}).get("name")=="proxy_loadgen" and m.get("executable"): print(m["executable"])' | tail -1)
AUTHTAP=$ROOT/target/release/authtap
fi
[[ -x "$LOADGEN" && -x "$AUTHTAP" ]] || { echo "build failed"; exit 1; }

MITMDUMP=""
if [[ "${SKIP_MITM:-0}" != 1 ]]; then
  VENV=${MITM_VENV:-/tmp/authtap-mitm-venv}
  if [[ ! -x "$VENV/bin/mitmdump" ]]; then
    echo "== installing mitmproxy into $VENV"
    python3 -m venv "$VENV" && "$VENV/bin/pip" install -q mitmproxy
  fi
  MITMDUMP=$VENV/bin/mitmdump
fi

echo "== starting upstream"
"$LOADGEN" serve --out-dir "$W" --threads 1 > "$W/upstream.out" &
PIDS+=($!)
for _ in $(seq 100); do grep -q PORT "$W/upstream.out" 2>/dev/null && break; sleep 0.1; done
UP=$(awk '/PORT/{print $2}' "$W/upstream.out")
URL="https://localhost:$UP/1k"

echo "== starting authtap proxy"
AP=$(free_port); AM=$(free_port)
"$AUTHTAP" proxy --listen 127.0.0.1:$AP --metrics-listen 127.0.0.1:$AM --intercept localhost \
  --ca-dir "$W/ca" --upstream-ca "$W/upstream-ca.pem" --resolve "localhost:$UP:127.0.0.1" \
  > "$W/authtap.out" 2> "$W/authtap.err" &
APID=$!; PIDS+=($APID)
for _ in $(seq 100); do [[ -f "$W/ca/authtap-ca.pem" ]] && curl -s "http://127.0.0.1:$AM/healthz" >/dev/null && break; sleep 0.1; done

if [[ -n "$MITMDUMP" ]]; then
  echo "== starting mitmdump"
  MP=$(free_port)
  "$MITMDUMP" -q --listen-host 127.0.0.1 --listen-port "$MP" --set confdir="$W/mitm" \
    --set ssl_verify_upstream_trusted_ca="$W/upstream-ca.pem" > "$W/mitm.out" 2>&1 &
  MPID=$!; PIDS+=($MPID)
  for _ in $(seq 200); do [[ -f "$W/mitm/mitmproxy-ca-cert.pem" ]] && (echo > /dev/tcp/127.0.0.1/$MP) 2>/dev/null && break; sleep 0.1; done
fi

run() { # name proxy ca conns dur
  local name=$1 proxy=$2 ca=$3 conns=$4 dur=$5
  local extra=()
  [[ -n "$proxy" ]] && extra=(--proxy "$proxy")
  "$LOADGEN" run --url "$URL" --ca "$ca" "${extra[@]}" --connections "$conns" --duration "$dur" --warmup 1 --threads 1 \
    | tee "$W/$name.json"
}

echo "== latency, 1 connection"
run lat_direct "" "$W/upstream-ca.pem" 1 "$LAT_DUR"
run lat_authtap "127.0.0.1:$AP" "$W/ca/authtap-ca.pem" 1 "$LAT_DUR"
[[ -n "$MITMDUMP" ]] && run lat_mitm "127.0.0.1:$MP" "$W/mitm/mitmproxy-ca-cert.pem" 1 "$LAT_DUR"

echo "== throughput, $CONNS connections"
run tp_direct "" "$W/upstream-ca.pem" "$CONNS" "$DUR"
run tp_authtap "127.0.0.1:$AP" "$W/ca/authtap-ca.pem" "$CONNS" "$DUR"
[[ -n "$MITMDUMP" ]] && run tp_mitm "127.0.0.1:$MP" "$W/mitm/mitmproxy-ca-cert.pem" "$CONNS" "$DUR"

echo "== authtap RSS with 1000 concurrent connections"
rss_before=$(awk '/VmRSS/{print $2}' /proc/$APID/status)
run c1000_authtap "127.0.0.1:$AP" "$W/ca/authtap-ca.pem" 1000 "$DUR"
rss_peak=$(awk '/VmHWM/{print $2}' /proc/$APID/status)
rss_after=$(awk '/VmRSS/{print $2}' /proc/$APID/status)
mitm_peak=""
[[ -n "$MITMDUMP" ]] && mitm_peak=$(awk '/VmHWM/{print $2}' /proc/$MPID/status)
curl -s "http://127.0.0.1:$AM/metrics" > "$W/metrics.txt"

python3 - "$W" "$rss_before" "$rss_peak" "$rss_after" "${mitm_peak:-}" "$CONNS" "$DUR" <<'PY'
import json, sys, os, subprocess, datetime
W, before, peak, after, mitm_peak, conns, dur = sys.argv[1:8]
def j(n):
    p = os.path.join(W, n + ".json")
    return json.load(open(p)) if os.path.exists(p) else None
ld, la, lm = j("lat_direct"), j("lat_authtap"), j("lat_mitm")
td, ta, tm = j("tp_direct"), j("tp_authtap"), j("tp_mitm")
c1k = j("c1000_authtap")
rows = []
def row(name, lat, tp):
    rows.append(f"| {name} | {tp['rps']:.0f} | {tp['errors']} | {lat['p50_us']} | {lat['p99_us']} |")
row("direct (no proxy)", ld, td)
row("authtap proxy (intercepting, h1)", la, ta)
if lm and tm: row("mitmdump", lm, tm)
peak_mib = int(peak) / 1024
ok = lambda b: "**met**" if b else "**missed**"
lines = []
lines.append("# Proxy benchmark results\n")
lines.append(f"Generated by `benches/proxy/run.sh` on {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, "
             f"{os.cpu_count()} CPUs shared with other work (client, proxy and upstream all on this host).\n")
lines.append("Setup: keep-alive HTTPS/1.1 GETs with a 1 KiB response body; client `benches/proxy/loadgen.rs` "
             "(Rust, hyper, 1 worker thread) → proxy (authtap intercepting with a minted leaf, or mitmdump) → "
             "local rustls upstream (1 worker thread). Latency: 1 connection, sequential requests. "
             f"Throughput: {conns} connections for {dur} s each, after 1 s warm-up.\n")
lines.append("| path | throughput (req/s) | errors | p50 latency (µs) | p99 latency (µs) |")
lines.append("|---|---:|---:|---:|---:|")
lines += rows
lines.append("")
lines.append("## Against the issue's targets\n")
if tm:
    r = ta['rps'] / max(tm['rps'], 1e-9)
    lines.append(f"- Throughput vs mitmdump: {r:.1f}× (target ≥ 20×): {ok(r >= 20)}")
r = ta['rps'] / max(td['rps'], 1e-9)
lines.append(f"- Throughput vs direct: {100*r:.0f}% (target ≥ 50%): {ok(r >= 0.5)}")
a50 = (la['p50_us'] - ld['p50_us']) / 1000; a99 = (la['p99_us'] - ld['p99_us']) / 1000
lines.append(f"- Added latency p50: {a50:.3f} ms (target ≤ 0.3 ms): {ok(a50 <= 0.3)}")
lines.append(f"- Added latency p99: {a99:.3f} ms (target ≤ 2 ms): {ok(a99 <= 2)}")
lines.append(f"- Peak RSS with 1,000 concurrent connections: {peak_mib:.1f} MiB (target ≤ 64 MiB): {ok(peak_mib <= 64)}")
lines.append(f"  (1,000-connection run: {c1k['rps']:.0f} req/s, {c1k['errors']} errors, p99 {c1k['p99_us']} µs; "
             f"RSS before {int(before)/1024:.1f} MiB, after {int(after)/1024:.1f} MiB)")
if mitm_peak:
    lines.append(f"- mitmdump peak RSS over its runs (32 connections max): {int(mitm_peak)/1024:.1f} MiB")
lines.append("")
lines.append("Raw JSON lines per run are in the run's work directory; numbers vary run to run on a shared host.")
out = "\n".join(lines) + "\n"
open(os.environ.get("RESULTS", os.path.join(os.getcwd(), "benches/proxy/RESULTS.md")), "w").write(out)
print(out)
PY
