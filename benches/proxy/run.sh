#!/usr/bin/env bash
# Proxy benchmark (issue 5 targets, issue 6 metrics overhead). Keep-alive HTTPS/1.1 GETs of 1 KiB:
#   client (loadgen) -> [authtap proxy intercepting | mitmdump | nothing] -> local rustls upstream
# Measures, in one run:
#   - latency at low load (1 connection, sequential requests), direct and through authtap,
#     alternated LAT_ROUNDS times (the median round is compared; every round is listed);
#   - throughput with CONNS connections: direct, authtap and the bare relay (`loadgen relay`: the
#     least an intercepting hyper + rustls proxy does, the floor for any such proxy) alternated
#     TP_ROUNDS times (median ratio), then mitmdump;
#   - metrics overhead: authtap with metrics on and with `--metrics-listen off`, alternated
#     MET_ROUNDS times (the order flips each round); throughput and proxy CPU time (user+sys,
#     all threads) per request; the median round's overhead is compared with the target;
#   - authtap's peak RSS while 1,000 connections are busy (VmHWM of the proxy process).
# Writes benches/proxy/RESULTS.md (all five issue-5 target lines plus the issue-6 line) and prints it.
#
# Usage: benches/proxy/run.sh [--quick]
#   Runs unattended: builds authtap and the load generator in release, installs mitmproxy into a
#   venv with pip when it is missing (skipped, and said so, when that fails).
# Env: DUR (seconds per throughput run, default 10), CONNS (default 32), LAT_DUR (default 5),
#      LAT_ROUNDS (default 3), TP_ROUNDS (default 2), MET_ROUNDS (default 3), C1K_DUR (default DUR), SKIP_MITM=1,
#      MITM_VENV (default /tmp/authtap-mitm-venv), AUTHTAP_BIN + LOADGEN_BIN (skip the build),
#      RESULTS (output file, default benches/proxy/RESULTS.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DUR=${DUR:-10}
CONNS=${CONNS:-32}
LAT_DUR=${LAT_DUR:-5}
LAT_ROUNDS=${LAT_ROUNDS:-3}
MET_ROUNDS=${MET_ROUNDS:-3}
TP_ROUNDS=${TP_ROUNDS:-2}
if [[ "${1:-}" == "--quick" ]]; then DUR=3; LAT_DUR=2; LAT_ROUNDS=1; MET_ROUNDS=1; TP_ROUNDS=1; fi
C1K_DUR=${C1K_DUR:-$DUR}
RESULTS=${RESULTS:-$ROOT/benches/proxy/RESULTS.md}
W=$(mktemp -d /tmp/authtap-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # user+sys of all threads, in clock ticks

if [[ -n "${AUTHTAP_BIN:-}" && -n "${LOADGEN_BIN:-}" ]]; then
  AUTHTAP=$AUTHTAP_BIN; LOADGEN=$LOADGEN_BIN
else
  echo "== building authtap and the load generator (release)"
  cargo build --release --bin authtap 2>&1 | tail -1
  LOADGEN=$(cargo build --release --bench proxy_loadgen --message-format=json 2>/dev/null \
    | python3 -c 'import sys,json
for l in sys.stdin:
    try: m=json.loads(l)
    except Exception: continue
    if m.get("reason")=="compiler-artifact" and m.get("target",{}).get("name")=="proxy_loadgen" and m.get("executable"): print(m["executable"])' | tail -1)
  AUTHTAP=$ROOT/target/release/authtap
fi
[[ -x "${LOADGEN:-}" && -x "$AUTHTAP" ]] || { echo "build failed (authtap=$AUTHTAP loadgen=${LOADGEN:-})"; exit 1; }

MITMDUMP=""
MITM_NOTE=""
if [[ "${SKIP_MITM:-0}" != 1 ]]; then
  VENV=${MITM_VENV:-/tmp/authtap-mitm-venv}
  if [[ ! -x "$VENV/bin/mitmdump" ]]; then
    echo "== installing mitmproxy into $VENV"
    if ! { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q mitmproxy; } > "$W/pip.log" 2>&1; then
      MITM_NOTE="mitmproxy could not be installed (see pip output); the mitmdump comparison was skipped"
      tail -3 "$W/pip.log" || true
    fi
  fi
  [[ -x "$VENV/bin/mitmdump" ]] && MITMDUMP=$VENV/bin/mitmdump
else
  MITM_NOTE="SKIP_MITM=1: the mitmdump comparison was skipped"
fi

echo "== starting upstream"
"$LOADGEN" serve --out-dir "$W" --threads 1 > "$W/upstream.out" &
PIDS+=($!)
for _ in $(seq 100); do grep -q PORT "$W/upstream.out" 2>/dev/null && break; sleep 0.1; done
UP=$(awk '/PORT/{print $2; exit}' "$W/upstream.out")
URL="https://localhost:$UP/1k"
"$LOADGEN" relay --out-dir "$W" --upstream "$UP" --upstream-ca "$W/upstream-ca.pem" > "$W/relay.out" &
RPID=$!; PIDS+=($RPID)
for _ in $(seq 100); do grep -q PORT "$W/relay.out" 2>/dev/null && break; sleep 0.1; done
RP=$(awk '/PORT/{print $2; exit}' "$W/relay.out")

start_authtap() { # name metrics-listen -> sets the port in $W/<name>.port, pid in $W/<name>.pid
  local name=$1 metrics=$2 port
  port=$(free_port)
  "$AUTHTAP" proxy --listen "127.0.0.1:$port" --metrics-listen "$metrics" --intercept localhost \
    --ca-dir "$W/ca" --upstream-ca "$W/upstream-ca.pem" --resolve "localhost:$UP:127.0.0.1" \
    > "$W/$name.out" 2> "$W/$name.err" &
  echo $! > "$W/$name.pid"; PIDS+=($!)
  echo "$port" > "$W/$name.port"
  for _ in $(seq 100); do [[ -f "$W/ca/authtap-ca.pem" ]] && (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
}

echo "== starting authtap proxy (metrics on) and a second one with --metrics-listen off"
AM=$(free_port)
start_authtap authtap "127.0.0.1:$AM"
APID=$(cat "$W/authtap.pid"); AP=$(cat "$W/authtap.port")
for _ in $(seq 100); do curl -s "http://127.0.0.1:$AM/healthz" >/dev/null && break; sleep 0.1; done
start_authtap nometrics off
NPID=$(cat "$W/nometrics.pid"); NP=$(cat "$W/nometrics.port")

if [[ -n "$MITMDUMP" ]]; then
  echo "== starting mitmdump"
  MP=$(free_port)
  "$MITMDUMP" -q --listen-host 127.0.0.1 --listen-port "$MP" --set confdir="$W/mitm" \
    --set ssl_verify_upstream_trusted_ca="$W/upstream-ca.pem" > "$W/mitm.out" 2>&1 &
  MPID=$!; PIDS+=($MPID)
  for _ in $(seq 300); do [[ -f "$W/mitm/mitmproxy-ca-cert.pem" ]] && (echo > /dev/tcp/127.0.0.1/$MP) 2>/dev/null && break; sleep 0.1; done
fi

run() { # name proxy ca conns dur
  local name=$1 proxy=$2 ca=$3 conns=$4 dur=$5
  local extra=()
  [[ -n "$proxy" ]] && extra=(--proxy "$proxy")
  "$LOADGEN" run --url "$URL" --ca "$ca" "${extra[@]}" --connections "$conns" --duration "$dur" --warmup 1 --threads 1 \
    | tee "$W/$name.json"
}
run_cpu() { # name pid proxy conns dur: like run, and records the proxy's CPU ticks over the run
  local name=$1 pid=$2 proxy=$3 conns=$4 dur=$5 t0 t1
  t0=$(cpu_ticks "$pid")
  run "$name" "$proxy" "$W/ca/authtap-ca.pem" "$conns" "$dur"
  t1=$(cpu_ticks "$pid")
  echo $((t1 - t0)) > "$W/$name.cpu"
}

echo "== latency, 1 connection, $LAT_ROUNDS rounds"
for i in $(seq "$LAT_ROUNDS"); do
  run "lat_direct_$i" "" "$W/upstream-ca.pem" 1 "$LAT_DUR"
  run "lat_authtap_$i" "127.0.0.1:$AP" "$W/ca/authtap-ca.pem" 1 "$LAT_DUR"
done
[[ -n "$MITMDUMP" ]] && run lat_mitm "127.0.0.1:$MP" "$W/mitm/mitmproxy-ca-cert.pem" 1 "$LAT_DUR"

echo "== throughput, $CONNS connections, $TP_ROUNDS rounds"
for i in $(seq "$TP_ROUNDS"); do
  run "tp_direct_$i" "" "$W/upstream-ca.pem" "$CONNS" "$DUR"
  run_cpu "tp_authtap_$i" "$APID" "127.0.0.1:$AP" "$CONNS" "$DUR"
  run "tp_relay_$i" "127.0.0.1:$RP" "$W/relay-ca.pem" "$CONNS" "$DUR"
done
kill "$RPID" 2>/dev/null || true
[[ -n "$MITMDUMP" ]] && run tp_mitm "127.0.0.1:$MP" "$W/mitm/mitmproxy-ca-cert.pem" "$CONNS" "$DUR"

echo "== metrics overhead: metrics on vs --metrics-listen off, $MET_ROUNDS rounds"
for i in $(seq "$MET_ROUNDS"); do
  if (( i % 2 )); then
    run_cpu "met_off_$i" "$NPID" "127.0.0.1:$NP" "$CONNS" "$DUR"
    run_cpu "met_on_$i" "$APID" "127.0.0.1:$AP" "$CONNS" "$DUR"
  else
    run_cpu "met_on_$i" "$APID" "127.0.0.1:$AP" "$CONNS" "$DUR"
    run_cpu "met_off_$i" "$NPID" "127.0.0.1:$NP" "$CONNS" "$DUR"
  fi
done
kill "$NPID" 2>/dev/null || true

echo "== authtap RSS with 1000 concurrent connections"
rss_before=$(awk '/VmRSS/{print $2}' "/proc/$APID/status")
up_before=$(grep -c ACCEPTED "$W/upstream.out" || true)
run c1000_authtap "127.0.0.1:$AP" "$W/ca/authtap-ca.pem" 1000 "$C1K_DUR"
rss_peak=$(awk '/VmHWM/{print $2}' "/proc/$APID/status")
rss_after=$(awk '/VmRSS/{print $2}' "/proc/$APID/status")
mitm_peak=""
[[ -n "$MITMDUMP" ]] && mitm_peak=$(awk '/VmHWM/{print $2}' "/proc/$MPID/status")
curl -s "http://127.0.0.1:$AM/metrics" > "$W/metrics.txt" || true
upstream_conns=$(( $(grep -c ACCEPTED "$W/upstream.out" || true) - up_before ))
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$W" "$rss_before" "$rss_peak" "$rss_after" "${mitm_peak:-}" "$CONNS" "$DUR" \
  "$LAT_ROUNDS" "$MET_ROUNDS" "$LOAD_START" "$LOAD_END" "$upstream_conns" "$(getconf CLK_TCK)" \
  "$RESULTS" "$MITM_NOTE" "$LAT_DUR" "$TP_ROUNDS" <<'PY'
import json, sys, os, datetime, statistics
(W, before, peak, after, mitm_peak, conns, dur, lat_rounds, met_rounds, load_start, load_end,
 upstream_conns, clk_tck, results, mitm_note, lat_dur, tp_rounds) = sys.argv[1:18]
lat_rounds, met_rounds, clk_tck, tp_rounds = int(lat_rounds), int(met_rounds), int(clk_tck), int(tp_rounds)
def j(n):
    p = os.path.join(W, n + ".json")
    if not os.path.exists(p):
        return None
    try:
        return json.loads(open(p).read().strip().splitlines()[-1])
    except Exception:
        return None
def cpu(n):
    p = os.path.join(W, n + ".cpu")
    return int(open(p).read()) / clk_tck if os.path.exists(p) else None
ok = lambda b: "**met**" if b else "**missed**"
lat = []
for i in range(1, lat_rounds + 1):
    d, a = j(f"lat_direct_{i}"), j(f"lat_authtap_{i}")
    if d and a:
        lat.append((d, a, (a["p50_us"] - d["p50_us"]) / 1000, (a["p99_us"] - d["p99_us"]) / 1000))
tp = []
for i in range(1, tp_rounds + 1):
    d, a = j(f"tp_direct_{i}"), j(f"tp_authtap_{i}")
    if d and a:
        rl = j(f"tp_relay_{i}")
        tp.append((d, a, a["rps"] / max(d["rps"], 1e-9), rl["rps"] / max(d["rps"], 1e-9) if rl else None))
tpmed = sorted(tp, key=lambda r: r[2])[len(tp) // 2] if tp else None
relays = sorted(r[3] for r in tp if r[3] is not None)
relay_med = relays[len(relays) // 2] if relays else None
td, ta = (tpmed[0], tpmed[1]) if tpmed else (None, None)
lm, tm, c1k = j("lat_mitm"), j("tp_mitm"), j("c1000_authtap")
L = []
L.append("# Proxy benchmark results\n")
L.append(f"Generated by `benches/proxy/run.sh` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
         f"{os.cpu_count()} CPUs; load average (1/5/15 min) {load_start} at the start, {load_end} at the end "
         "(client, proxy and upstream all run on this host).\n")
L.append("Setup: keep-alive HTTPS/1.1 GETs with a 1 KiB response body; client `benches/proxy/loadgen.rs` "
         "(Rust, hyper, 1 worker thread, release build) → proxy (authtap intercepting with a minted leaf, or mitmdump) → "
         "local rustls upstream (HTTP/1.1 + h2, 1 worker thread). "
         f"Latency: 1 connection, sequential requests, {lat_dur} s per run, direct and authtap alternated {lat_rounds}×. "
         f"Throughput: {conns} connections for {dur} s each, after 1 s warm-up; direct and authtap alternated "
         f"{tp_rounds}× (the median round is shown).\n")
L.append("| path | throughput (req/s) | errors | p50 latency (µs) | p99 latency (µs) |")
L.append("|---|---:|---:|---:|---:|")
med = sorted(lat, key=lambda r: r[3])[len(lat) // 2] if lat else None
if med and td:
    L.append(f"| direct (no proxy) | {td['rps']:.0f} | {td['errors']} | {med[0]['p50_us']} | {med[0]['p99_us']} |")
if med and ta:
    L.append(f"| authtap proxy (intercepting, h1 client side) | {ta['rps']:.0f} | {ta['errors']} | {med[1]['p50_us']} | {med[1]['p99_us']} |")
if tpmed and tpmed[3] is not None:
    L.append(f"| bare hyper + rustls relay (floor: no tap, no analysis; throughput only) | {j('tp_relay_' + str(tp.index(tpmed) + 1))['rps']:.0f} | | | |")
if lm and tm:
    L.append(f"| mitmdump | {tm['rps']:.0f} | {tm['errors']} | {lm['p50_us']} | {lm['p99_us']} |")
L.append("")
L.append("## Against the issue's targets\n")
if tm and ta:
    r = ta["rps"] / max(tm["rps"], 1e-9)
    L.append(f"- Throughput vs mitmdump: {r:.1f}× (target ≥ 20×): {ok(r >= 20)}")
else:
    L.append(f"- Throughput vs mitmdump: not measured ({mitm_note or 'mitmdump did not run'})")
if ta and td:
    r = ta["rps"] / max(td["rps"], 1e-9)
    L.append(f"- Throughput vs direct: {100*r:.0f}% (target ≥ 50%): {ok(r >= 0.5)}")
    if relay_med is not None:
        L.append(f"  (the bare relay, which only terminates TLS, parses HTTP/1.1 and forwards over one h2 "
                 f"connection, reaches {100*relay_med:.0f}% of direct in the same rounds)")
if med:
    L.append(f"- Added latency p50 (median round): {med[2]:.3f} ms (target ≤ 0.3 ms): {ok(med[2] <= 0.3)}")
    L.append(f"- Added latency p99 (median round): {med[3]:.3f} ms (target ≤ 2 ms): {ok(med[3] <= 2)}")
peak_mib = int(peak) / 1024
L.append(f"- Peak RSS with 1,000 concurrent connections: {peak_mib:.1f} MiB (target ≤ 64 MiB): {ok(peak_mib <= 64)}")
if c1k:
    L.append(f"  (1,000-connection run: {c1k['rps']:.0f} req/s, {c1k['errors']} errors, p99 {c1k['p99_us']} µs; "
             f"RSS before {int(before)/1024:.1f} MiB, after {int(after)/1024:.1f} MiB; "
             f"upstream TLS connections opened by authtap during it: {upstream_conns})")
met = []
for i in range(1, met_rounds + 1):
    a, b = j(f"met_on_{i}"), j(f"met_off_{i}")
    ca, cb = cpu(f"met_on_{i}"), cpu(f"met_off_{i}")
    if a and b and ca is not None and cb is not None and a.get("sent") and b.get("sent"):
        # The CPU ticks cover the warm-up too, so divide by every answered request (`sent`).
        us_on, us_off = 1e6 * ca / a["sent"], 1e6 * cb / b["sent"]
        met.append((a["rps"], b["rps"], us_on, us_off,
                    100 * (b["rps"] / max(a["rps"], 1e-9) - 1), 100 * (us_on / max(us_off, 1e-9) - 1)))
if met:
    m = sorted(met, key=lambda r: r[5])[len(met) // 2]
    L.append(f"- Metrics overhead (issue 6, target ≤ 5%; median of {len(met)} alternated rounds by CPU cost): "
             f"proxy CPU {m[2]:.1f} µs/request with metrics vs {m[3]:.1f} with `--metrics-listen off` "
             f"({m[5]:+.1f}%); throughput {m[0]:.0f} vs {m[1]:.0f} req/s ({m[4]:+.1f}% cost): {ok(m[5] <= 5)}")
    L.append("  (rounds, CPU cost %: " + ", ".join(f"{r[5]:+.1f}" for r in met) +
             "; throughput cost %: " + ", ".join(f"{r[4]:+.1f}" for r in met) + ")")
if tp:
    L.append("")
    L.append("Throughput rounds (direct → authtap req/s; bare relay % of direct): " +
             "; ".join(f"{d['rps']:.0f} → {a['rps']:.0f} ({100*r:.0f}%; relay "
                       + (f"{100*rl:.0f}%" if rl is not None else "n/a") + ")" for d, a, r, rl in tp))
L.append("")
if lat:
    L.append("Latency rounds (direct p50/p99 → authtap p50/p99, µs; added p50/p99, ms):")
    for d, a, a50, a99 in lat:
        L.append(f"- {d['p50_us']}/{d['p99_us']} → {a['p50_us']}/{a['p99_us']}; +{a50:.3f}/+{a99:.3f}")
    L.append("")
if mitm_peak:
    L.append(f"mitmdump peak RSS over its runs ({conns} connections max): {int(mitm_peak)/1024:.1f} MiB.\n")
if mitm_note:
    L.append(f"Note: {mitm_note}.\n")
L.append("Raw JSON per run is in the run's work directory; numbers vary run to run on a shared host, "
         "so compare rows of the same run only.")
out = "\n".join(L) + "\n"
open(results, "w").write(out)
print(out)
PY
