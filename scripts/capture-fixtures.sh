#!/usr/bin/env bash
# capture-fixtures.sh — record real packet captures of the mock tenant for authtap's fixtures.
#
# Owns: fixtures/*.pcap, *.keys and *-dsb.pcapng (see fixtures/README.md for the list).
# Needs: root (tcpdump on `lo`), tcpdump, editcap, curl (with HTTP/2 and SSLKEYLOGFILE
# support), cargo. The mock tenant is served on 127.0.0.1 with the wall clock; scenarios are
# driven by curl subprocesses (`mock-tenant drive`). Each capture gets a fresh server so rate
# limit windows start empty. Token lifetimes are relative to real time: the m2m cron token
# lives 2 s and the driver really waits 3 s, so the expired-token step is a real expiry.
#
# Usage: sudo scripts/capture-fixtures.sh [OUT_DIR [CAPTURE...]]   (default: fixtures, all)
#        CAPTURE names: forum-thread m2m forum-thread-h2c forum-thread-h2
#        forum-thread-h1-tls m2m-h2 forum-thread-h2-tls12 forum-thread-h2-aes128
#        m2m-h2-chacha20 (DSB files follow their base).
# Env:   PLAIN_PORT (default 18080, a non-standard HTTP port), TLS_PORT (default 443).
set -euo pipefail

cd "$(dirname "$0")/.."
OUT="${1:-fixtures}"
shift || true
ONLY=("$@")
PLAIN_PORT="${PLAIN_PORT:-18080}"
TLS_PORT="${TLS_PORT:-443}"
DOMAIN="dev-forum.us.auth0.com"

if [ "$(id -u)" != "0" ]; then
    echo "capture-fixtures.sh: must run as root (tcpdump on lo)" >&2
    exit 2
fi
for tool in tcpdump editcap curl cargo; do
    command -v "$tool" >/dev/null || { echo "capture-fixtures.sh: missing $tool" >&2; exit 2; }
done

cargo build -q -p mock-tenant
BIN="$PWD/target/debug/mock-tenant"
WORK="$(mktemp -d)"
SPID=""
TPID=""
cleanup() {
    [ -n "$TPID" ] && kill -INT "$TPID" 2>/dev/null || true
    [ -n "$SPID" ] && kill "$SPID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$OUT"

# start_server PORT [serve flags...] → sets SPID
start_server() {
    local port="$1"; shift
    : > "$WORK/serve.out"
    "$BIN" serve --domain "$DOMAIN" --port "$port" "$@" > "$WORK/serve.out" 2>&1 &
    SPID=$!
    for _ in $(seq 1 100); do
        grep -q '^port ' "$WORK/serve.out" && return 0
        sleep 0.05
    done
    echo "capture-fixtures.sh: server did not start:" >&2
    cat "$WORK/serve.out" >&2
    exit 1
}

stop_server() {
    kill "$SPID" 2>/dev/null || true
    wait "$SPID" 2>/dev/null || true
    SPID=""
}

# start_tcpdump PORT FILE → sets TPID
start_tcpdump() {
    : > "$WORK/tcpdump.err"
    tcpdump -i lo --immediate-mode -U -s 0 -w "$2" "tcp port $1" 2> "$WORK/tcpdump.err" &
    TPID=$!
    for _ in $(seq 1 100); do
        grep -q 'listening on' "$WORK/tcpdump.err" && return 0
        sleep 0.05
    done
    echo "capture-fixtures.sh: tcpdump did not start:" >&2
    cat "$WORK/tcpdump.err" >&2
    exit 1
}

stop_tcpdump() {
    sleep 1.5
    kill -INT "$TPID" 2>/dev/null || true
    wait "$TPID" 2>/dev/null || true
    TPID=""
}

wanted() {
    [ "${#ONLY[@]}" -eq 0 ] && return 0
    local x
    for x in "${ONLY[@]}"; do [ "$x" = "$1" ] && return 0; done
    return 1
}

# plain NAME SCENARIO [VERSION_FLAG] — plain HTTP on a non-standard port
# (default HTTP/1.1; --http2-prior-knowledge gives h2c with the connection preface).
plain() {
    local name="$1" scenario="$2" vflag="${3:---http1.1}"
    wanted "$name" || return 0
    start_server "$PLAIN_PORT"
    start_tcpdump "$PLAIN_PORT" "$OUT/$name.pcap"
    "$BIN" drive --scenario "$scenario" --domain "$DOMAIN" --port "$PLAIN_PORT" "$vflag" \
        --secrets-out "$OUT/$name.pcap.secrets"
    stop_tcpdump
    stop_server
    echo "wrote $OUT/$name.pcap $OUT/$name.pcap.secrets"
}

# tls NAME SCENARIO CURL_VERSION_FLAG [serve flags...] — TLS, curl logs keys to NAME.keys.
# CURL_EXTRA (env) adds curl arguments, e.g. a TLS 1.3 cipher suite.
tls() {
    local name="$1" scenario="$2" vflag="$3"; shift 3
    wanted "$name" || return 0
    rm -f "$OUT/$name.keys"
    local extra=()
    local a
    for a in ${CURL_EXTRA:-}; do extra+=("--curl-arg=$a"); done
    start_server "$TLS_PORT" --tls --ca-out "$WORK/ca" "$@"
    start_tcpdump "$TLS_PORT" "$OUT/$name.pcap"
    SSLKEYLOGFILE="$PWD/$OUT/$name.keys" \
        "$BIN" drive --scenario "$scenario" --domain "$DOMAIN" --port "$TLS_PORT" \
        --cacert "$WORK/ca/ca.pem" "$vflag" --secrets-out "$OUT/$name.pcap.secrets" "${extra[@]}"
    stop_tcpdump
    stop_server
    echo "wrote $OUT/$name.pcap $OUT/$name.keys"
}

# dsb NAME — pcapng with the key log embedded as a Decryption Secrets Block.
dsb() {
    wanted "$1" || return 0
    editcap --inject-secrets "tls,$OUT/$1.keys" "$OUT/$1.pcap" "$OUT/$1-dsb.pcapng"
    cp "$OUT/$1.pcap.secrets" "$OUT/$1-dsb.pcapng.secrets"
    echo "wrote $OUT/$1-dsb.pcapng"
}

plain forum-thread forum-thread
plain m2m m2m
plain forum-thread-h2c forum-thread --http2-prior-knowledge
tls forum-thread-h2 forum-thread --http2
tls forum-thread-h1-tls forum-thread --http1.1
tls m2m-h2 m2m --http2
tls forum-thread-h2-tls12 forum-thread --http2 --tls12
CURL_EXTRA="--tls13-ciphers TLS_AES_128_GCM_SHA256" tls forum-thread-h2-aes128 forum-thread --http2
CURL_EXTRA="--tls13-ciphers TLS_CHACHA20_POLY1305_SHA256" tls m2m-h2-chacha20 m2m --http2
dsb forum-thread-h2
dsb m2m-h2


# tcpdump drops privileges and leaves files owned by its own user; hand them back.
chown --reference=. "$OUT"/*.pcap 2>/dev/null || true
ls -l "$OUT"/*.pcap "$OUT"/*.pcapng "$OUT"/*.keys
