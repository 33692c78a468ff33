#!/usr/bin/env bash
# Live capture throughput on loopback (issue #6 target: authtap keeps up with >= 50,000 packets/s
# of TLS traffic with zero kernel drops). Not a test; runs unattended as root and writes its table
# into benches/metrics/RESULTS.md (between the live_capture.sh markers).
#
#   sudo benches/metrics/live_capture.sh [SECONDS_PER_RATE]      (default 10)
#   env: RATES="50000 75000 100000 max"  (max = tcpreplay --topspeed: the ceiling on this box)
#        PACKETS=100000 (frames in the replayed pcap; the replay loops it a whole number of times)
#        AUTHTAP=path/to/authtap (default: the binary built with --features live by this script)
#        NO_RESULTS=1 (print only, leave RESULTS.md alone)
#
# Needs: root (CAP_NET_RAW for tcpreplay and libpcap), tcpreplay (Debian package `tcpreplay`;
# not installed by .ci/run because no test needs it), tcpdump (the pre-check), curl, python3.
#
# Traffic: benches/metrics/live_gen.rs writes a pcap of a Management-API-like workload (TLS 1.3
# h2 and http/1.1, TLS 1.2 http/1.1; client-credentials token grants, user reads, searches,
# PATCHes, 403 insufficient_scope and 429s; 1448-byte segments with delayed ACKs) plus the key log
# that decrypts it. tcpreplay replays it onto `lo` at a fixed --pps, looping with --unique-ip so
# every loop is a new set of TCP connections (the client randoms repeat, so the same key log
# decrypts every loop). The frames' destination MAC is not lo's, so the kernel's IP stack ignores
# them (no RSTs) while libpcap sees them; the script first checks that with tcpdump.
# authtap runs `capture -i lo --keylog KEYS` and really decrypts and parses every exchange.
# Reported per rate: packets/s counted by authtap (authtap_capture_packets_total), frames sent
# and missed, kernel drops (authtap_dropped_total{stage="kernel"}), exchanges decoded
# (authtap_http_exchanges_total: analysed by the engine) against the exchanges sent, exchanges
# refused by the full capture→analysis queue (authtap_dropped_total{stage="analysis"}), decrypted
# TLS sessions, and CPU % of authtap (and of its two threads) and of tcpreplay (CPU seconds over
# the replay's wall seconds; 100 % = one core). "kept up" = every frame counted, no kernel drop,
# every exchange analysed, every TLS session decrypted.
set -euo pipefail
SECS=${1:-10}
RATES=${RATES:-"50000 75000 100000 max"}
PACKETS=${PACKETS:-100000}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
[ "$(id -u)" = 0 ] || { echo "needs root (tcpreplay and libpcap on lo)"; exit 1; }
for t in tcpreplay tcpdump curl python3; do
  command -v $t >/dev/null || { echo "needs $t (apt-get install $t)"; exit 1; }
done
WORK=$(mktemp -d /tmp/authtap-live-bench.XXXXXX)
CAP_PID=""
cleanup() {
  if [ -n "$CAP_PID" ]; then kill -INT "$CAP_PID" 2>/dev/null || true; wait "$CAP_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# One build (bench profile, `--features live`) gives both the generator and the authtap binary
# (cargo builds the package's binaries for its benches); a separate `cargo build --release` would
# rebuild the same binary under another profile.
cargo bench --features live --bench live_gen --no-run --message-format=json 2>/dev/null |
  python3 -c 'import sys, json
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        print(m["target"]["name"], m["executable"])' >"$WORK/artifacts"
GEN=$(awk '$1 == "live_gen" {print $2}' "$WORK/artifacts" | tail -1)
AUTHTAP=${AUTHTAP:-$(awk '$1 == "authtap" {print $2}' "$WORK/artifacts" | tail -1)}
[ -x "$GEN" ] && [ -x "$AUTHTAP" ] || { echo "build failed: cargo bench --features live --bench live_gen --no-run"; exit 1; }
PCAP=$WORK/mgmt.pcap
KEYS=$WORK/mgmt.keys
GEN_OUT=$("$GEN" "$PCAP" "$KEYS" "$PACKETS")
# packets=N connections=N exchanges=N bytes=N
eval "GEN_$(sed 's/ / GEN_/g' <<<"$GEN_OUT")"
echo "replayed capture: $GEN_OUT"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Pre-check: libpcap on lo sees every frame tcpreplay injects.
CHECK=5000
timeout 20 tcpdump -i lo -n -c "$CHECK" -w "$WORK/check.pcap" 'tcp port 443' 2>"$WORK/tcpdump.err" &
TD=$!
sleep 1
tcpreplay -i lo --pps 20000 --limit "$CHECK" "$PCAP" >/dev/null 2>&1
wait $TD || true
SEEN=$(grep -o '^[0-9]* packets captured' "$WORK/tcpdump.err" | cut -d' ' -f1)
echo "pre-check: tcpreplay sent $CHECK frames onto lo, tcpdump (libpcap) saw ${SEEN:-0}"
[ "${SEEN:-0}" = "$CHECK" ] || { echo "libpcap on lo does not see tcpreplay's frames"; exit 1; }

metric_sum() { # text, regex of the series
  awk -v re="$2" '$0 !~ /^#/ && $1 ~ re {s += $2} END {printf "%.0f", s}' <<<"$1"
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# CPU ticks of authtap's analysis thread (named authtap-analysis; comm keeps 15 characters).
analysis_ticks() {
  local t
  for t in /proc/"$1"/task/*; do
    if [ "$(cat "$t/comm")" = "authtap-analysi" ]; then awk '{print $14 + $15}' "$t/stat"; return; fi
  done
  echo 0
}
TICK=$(getconf CLK_TCK)

ROWS=()
for RATE in $RATES; do
  MPORT=$(free_port)
  "$AUTHTAP" capture -i lo --keylog "$KEYS" --bpf "tcp port 443" \
    --metrics-listen "127.0.0.1:$MPORT" >/dev/null 2>"$WORK/capture-$RATE.err" &
  CAP_PID=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$MPORT/healthz" >/dev/null 2>&1 && break
    if ! kill -0 "$CAP_PID" 2>/dev/null; then
      echo "authtap capture did not start:"; cat "$WORK/capture-$RATE.err"; CAP_PID=""; exit 1
    fi
    sleep 0.1
  done
  sleep 0.5
  M0=$(curl -s "http://127.0.0.1:$MPORT/metrics")
  C0=$(cpu_ticks "$CAP_PID"); A0=$(analysis_ticks "$CAP_PID")
  # Whole loops only (about SECS seconds), so the frames and exchanges sent are known exactly.
  if [ "$RATE" = max ]; then
    SPEED=(--topspeed); LOOPS=$(( 150000 * SECS / GEN_packets ))
  else
    SPEED=(--pps "$RATE"); LOOPS=$(( (RATE * SECS + GEN_packets / 2) / GEN_packets ))
  fi
  [ "$LOOPS" -ge 1 ] || LOOPS=1
  /usr/bin/time -f "%U %S %e" -o "$WORK/tcpreplay-$RATE.time" \
    tcpreplay -i lo "${SPEED[@]}" --loop "$LOOPS" --unique-ip --preload-pcap --no-flow-stats \
    "$PCAP" >"$WORK/tcpreplay-$RATE.out" 2>&1
  sleep 2
  C1=$(cpu_ticks "$CAP_PID"); A1=$(analysis_ticks "$CAP_PID")
  M1=$(curl -s "http://127.0.0.1:$MPORT/metrics")
  kill -INT "$CAP_PID"; wait "$CAP_PID" || true; CAP_PID=""
  SENT=$(awk '/Actual:/ {print $2}' "$WORK/tcpreplay-$RATE.out")
  WALL=$(awk '/Actual:/ {for (i=1;i<=NF;i++) if ($i=="sent") print $(i+2)}' "$WORK/tcpreplay-$RATE.out")
  RATED=$(awk '/Rated:/ {for (i=1;i<=NF;i++) if ($i=="pps") print $(i-1)}' "$WORK/tcpreplay-$RATE.out")
  read -r TU TS _ <"$WORK/tcpreplay-$RATE.time"
  PK=$(( $(metric_sum "$M1" '^authtap_capture_packets_total$') - $(metric_sum "$M0" '^authtap_capture_packets_total$') ))
  KD=$(metric_sum "$M1" '^authtap_dropped_total\{.*stage="kernel"')
  EX=$(metric_sum "$M1" '^authtap_http_exchanges_total')
  TLS_OK=$(metric_sum "$M1" '^authtap_tls_sessions_total\{decrypted="true"')
  TLS_NO=$(metric_sum "$M1" '^authtap_tls_sessions_total\{decrypted="false"')
  OTHER_DROPS=$(metric_sum "$M1" '^authtap_dropped_total\{.*stage="(tcp|tls|http)"')
  QUEUE_DROPS=$(metric_sum "$M1" '^authtap_dropped_total\{.*stage="analysis"')
  ROW=$(python3 - "$RATE" "$SENT" "$WALL" "$RATED" "$PK" "$KD" "$EX" "$TLS_OK" "$TLS_NO" \
    "$OTHER_DROPS" "$C0" "$C1" "$TICK" "$TU" "$TS" "$GEN_packets" "$GEN_exchanges" \
    "$QUEUE_DROPS" "$A0" "$A1" <<'PY'
import sys
(rate, sent, wall, rated, pk, kd, ex, tok, tno, other, c0, c1, tick, tu, ts, gp, ge, qd, a0, a1) = sys.argv[1:]
sent, wall, pk, ex = int(sent), float(wall), int(pk), int(ex)
loops, partial = divmod(sent, int(gp))
ex_sent = loops * int(ge)
ok = "yes" if sent == pk and kd == "0" and ex == ex_sent and tno == "0" and partial == 0 else "**no**"
cpu = (int(c1) - int(c0)) / int(tick) / wall * 100
acpu = (int(a1) - int(a0)) / int(tick) / wall * 100
gen_cpu = (float(tu) + float(ts)) / wall * 100
target = f"{int(rate):,}" if rate != "max" else "max (--topspeed)"
print(f"| {target} | {float(rated):,.0f} | {sent:,} | {pk/wall:,.0f} | {sent-pk:,} | {kd} | "
      f"{ex:,} / {ex_sent:,} | {int(qd):,} | {tok} / {tno} | {other} | {cpu:.0f} % ({cpu-acpu:.0f} + {acpu:.0f}) | "
      f"{gen_cpu:.0f} % | {ok} |")
PY
)
  echo "$ROW"
  ROWS+=("$ROW")
done

HEADER="| target pps | tcpreplay pps | frames sent | authtap pkt/s | missed | kernel drops | exchanges analysed / sent | analysis queue drops | TLS decrypted / not | tcp+tls+http drops | authtap CPU (capture + analysis thread) | tcpreplay CPU | kept up |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:--:|"
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
CPU_MODEL=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
TABLE=$(printf '%s\n' "$HEADER" "${ROWS[@]}")
echo
echo "$TABLE"
echo "load average after the run: $LOAD"

if [ -z "${NO_RESULTS:-}" ]; then
  python3 - "$ROOT/benches/metrics/RESULTS.md" "$TABLE" "$LOAD" "$CPU_MODEL" "$(nproc)" "$SECS" \
    "$GEN_OUT" "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')" <<'PY'
import datetime, os, sys
path, table, load, cpu, ncpu, secs, gen, commit = sys.argv[1:]
begin, end = "<!-- live_capture.sh: begin -->", "<!-- live_capture.sh: end -->"
when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
block = f"""{begin}
Last run: {when}, commit `{commit}`, {ncpu} × {cpu}, load average after the run {load};
{secs} s per rate; replayed capture: {gen}.

{table}
{end}"""
text = open(path).read() if os.path.exists(path) else "# Metrics benchmarks\n\n## Live capture (`benches/metrics/live_capture.sh`)\n\n"
if begin in text and end in text:
    text = text[: text.index(begin)] + block + text[text.index(end) + len(end):]
else:
    text = text.rstrip("\n") + "\n\n" + block + "\n"
open(path, "w").write(text)
print(f"wrote {path}")
PY
fi
