#!/usr/bin/env bash
# Live capture throughput on loopback (issue #6 target: >= 50,000 packets/s of TLS traffic with
# zero kernel drops). Needs root (or CAP_NET_RAW), python3, openssl, and a release build with
# `--features live`.
#
#   cargo build --release --features live && sudo benches/metrics/live_capture.sh [SECONDS]
#
# Traffic: a local `openssl s_server` and a python client that opens TLS connections and writes
# many small records (each write is one TCP segment with TCP_NODELAY), so the capture sees real
# TLS record traffic at a high packet rate. authtap has no keys for it: every session is counted
# as undecrypted and its bytes are pushed through TCP reassembly and TLS record framing.
# Reported: packets/s seen by authtap (authtap_capture_packets_total), kernel drops
# (authtap_dropped_total{stage="kernel"}), and authtap's CPU time.
set -euo pipefail
SECS=${1:-10}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${AUTHTAP:-$ROOT/target/release/authtap}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
TLS_PORT=$(free_port)
METRICS_PORT=$(free_port)

openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 1 \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
# s_server ends a session when its stdin hits EOF, so keep stdin open.
sleep 3600 | openssl s_server -quiet -accept "$TLS_PORT" -cert "$WORK/cert.pem" -key "$WORK/key.pem" \
  -naccept 1000000 >/dev/null 2>&1 &

"$BIN" capture -i lo --bpf "tcp port $TLS_PORT" --metrics-listen "127.0.0.1:$METRICS_PORT" \
  >/dev/null 2>"$WORK/capture.err" &
CAP=$!
sleep 1

cat >"$WORK/load.py" <<'PY'
import socket, ssl, sys, threading, time
port, secs, conns = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
sent = [0] * conns
def run(i):
    end = time.time() + secs
    s = socket.create_connection(("127.0.0.1", port)); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t = ctx.wrap_socket(s, server_hostname="localhost")
    msg = b"x" * 200
    while time.time() < end:
        t.sendall(msg); sent[i] += 1
    t.close()
th = [threading.Thread(target=run, args=(i,)) for i in range(conns)]
[t.start() for t in th]; [t.join() for t in th]
print(sum(sent))
PY
START=$(date +%s.%N)
# openssl s_server serves one connection at a time, so one client connection per run.
WRITES=$(python3 "$WORK/load.py" "$TLS_PORT" "$SECS" "${CONNS:-1}")
END=$(date +%s.%N)
sleep 2
M=$(curl -s "http://127.0.0.1:$METRICS_PORT/metrics")
CPU=$(ps -o times= -p $CAP | tr -d ' ')
kill -INT $CAP; wait $CAP || true
PKTS=$(awk '/^authtap_capture_packets_total /{print $2}' <<<"$M")
DROPS=$(awk '/^authtap_dropped_total\{.*stage="kernel"/{s+=$2} END{print s+0}' <<<"$M")
python3 - "$PKTS" "$DROPS" "$WRITES" "$START" "$END" "$CPU" <<'PY'
import sys
pkts, drops, writes, start, end, cpu = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
secs = end - start
print(f"TLS records written: {writes} in {secs:.1f}s")
print(f"packets captured:    {pkts:.0f} ({pkts/secs:,.0f} packets/s)")
print(f"kernel drops:        {drops:.0f}")
print(f"authtap CPU time:    {cpu} s")
PY
