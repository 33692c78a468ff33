#!/usr/bin/env python3
"""Seed fuzz/corpus/<target>/ from the repository's own fixtures.

Run from the repository root: `python3 fuzz/seed_corpus.py`. Needs `tshark` for the
packet-derived seeds (http1, http2, hpack, tcp, tls_records); the file-level seeds (har, pcap,
keylog, token) need nothing. The generated corpus is gitignored and never committed.
"""
import glob
import hashlib
import os
import re
import struct
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "fixtures")
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def put(target, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def copy_files(target, patterns):
    for pat in patterns:
        for p in sorted(glob.glob(os.path.join(FIX, pat))):
            with open(p, "rb") as f:
                put(target, f.read())


def streams(pcap):
    """Per TCP stream: list of (from_client, rel_seq, flags, payload) in capture order."""
    try:
        out = subprocess.run(
            ["tshark", "-r", pcap, "-T", "fields", "-e", "tcp.stream", "-e", "tcp.srcport",
             "-e", "tcp.seq", "-e", "tcp.flags", "-e", "tcp.payload"],
            capture_output=True, check=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"skip {pcap}: tshark failed: {e}", file=sys.stderr)
        return {}
    res, client_port = {}, {}
    for line in out.splitlines():
        f = line.split("\t")
        if len(f) < 5 or not f[0]:
            continue
        sid, sport, seq, flags = f[0], f[1], int(f[2] or 0), int(f[3], 16)
        client_port.setdefault(sid, sport)  # first packet (SYN) comes from the client
        payload = bytes.fromhex(f[4].replace(":", ""))
        res.setdefault(sid, []).append((sport == client_port[sid], seq, flags, payload))
    return res


def h2_frames(buf):
    out, i = [], 0
    while i + 9 <= len(buf):
        ln = int.from_bytes(buf[i:i + 3], "big")
        out.append((buf[i + 3], buf[i + 4], buf[i + 9:i + 9 + ln]))
        i += 9 + ln
    return out


def header_block(ftype, flags, payload):
    if ftype not in (1, 9):  # HEADERS, CONTINUATION
        return None
    p = payload
    if ftype == 1:
        pad = 0
        if flags & 0x8:
            pad, p = p[0], p[1:]
        if flags & 0x20:
            p = p[5:]
        p = p[:len(p) - pad] if pad else p
    return p


def main():
    copy_files("har", ["*.har", "err-*.har*"])
    copy_files("pcap", ["*.pcap", "*.pcapng", "err-*.pcap*"])
    copy_files("keylog", ["*.keys"])
    jwts = set()
    for p in glob.glob(os.path.join(FIX, "*.har")):
        with open(p, "rb") as f:
            jwts.update(re.findall(rb"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*", f.read()))
    for t in sorted(jwts):
        put("token", t)
    put("token", b'{"keys":[{"kty":"RSA","kid":"k1","alg":"RS256","n":"AQAB","e":"AQAB"}]}')

    # RFC 7541 C.3 / C.4 request sequences (without and with Huffman), blocks joined by 0xA5.
    put("hpack", bytes.fromhex("828684410f7777772e6578616d706c652e636f6d") + b"\xa5"
        + bytes.fromhex("828684be58086e6f2d6361636865") + b"\xa5"
        + bytes.fromhex("828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565"))
    put("hpack", bytes.fromhex("828684418cf1e3c2e5f23a6ba0ab90f4ff") + b"\xa5"
        + bytes.fromhex("828684be5886a8eb10649cbf") + b"\xa5"
        + bytes.fromhex("828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf"))

    for pcap in ["m2m.pcap", "forum-thread.pcap", "forum-thread-h2c.pcap",
                 "forum-thread-h1-tls.pcap", "forum-thread-h2.pcap"]:
        for sid, pkts in streams(os.path.join(FIX, pcap)).items():
            cli = b"".join(p for c, _, _, p in pkts if c)
            srv = b"".join(p for c, _, _, p in pkts if not c)
            # tcp: flags byte (bit0 server, bit1 ack, bit2 syn, bit3 fin, bit4 rst), u16 seq, len.
            rec = bytearray()
            for c, seq, fl, p in pkts:
                for off in range(0, max(len(p), 1), 255):
                    chunk = p[off:off + 255]
                    b = (0 if c else 1) | (2 if fl & 0x10 else 0) | (4 if fl & 0x02 else 0)
                    b |= (8 if fl & 0x01 else 0) | (16 if fl & 0x04 else 0)
                    rec += bytes([b]) + struct.pack(">H", (seq + off) & 0xFFFF)
                    rec += bytes([len(chunk)]) + chunk
            if len(rec) <= 65536:
                put("tcp", bytes(rec))
            if pcap.startswith("forum-thread-h1-tls") or pcap == "forum-thread-h2.pcap":
                put("tls_records", b"\x00" + cli[:32768])
                put("tls_records", b"\x01" + srv[:32768])
                continue
            if cli.startswith(PREFACE):
                c2 = cli[len(PREFACE):]
                # Pad the shorter side with an unknown-type frame (ignored per RFC 9113 §4.1)
                # so the harness' split at len/2 falls on the client/server boundary.
                diff = abs(len(c2) - len(srv))
                pad = b""
                if diff >= 9:
                    pad = (diff - 9).to_bytes(3, "big") + b"\xfe\x00\x00\x00\x00\x00" + bytes(diff - 9)
                if len(c2) < len(srv):
                    c2 += pad
                else:
                    srv += pad
                put("http2", c2 + srv)
                for side in (cli[len(PREFACE):], srv):
                    blocks = [b for b in (header_block(*f) for f in h2_frames(side)) if b]
                    if blocks:
                        put("hpack", b"\xa5".join(blocks))
            else:
                # http1: op byte (bit0 server, bit1 gap, bit2 end), len byte, payload.
                rec = bytearray()
                for c, _, _, p in pkts:
                    for off in range(0, len(p), 255):
                        chunk = p[off:off + 255]
                        rec += bytes([0 if c else 1, len(chunk)]) + chunk
                rec += b"\x05\x00\x04\x00"
                put("http1", bytes(rec))
    for t in sorted(os.listdir(CORPUS)):
        print(t, len(os.listdir(os.path.join(CORPUS, t))))


if __name__ == "__main__":
    main()
