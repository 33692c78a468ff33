#!/usr/bin/env python3
"""Write the bad-input HAR fixtures (fixtures/err-*.har, err-*.har.gz).

Each one is a file authtap must refuse with exit 2 and one line naming the file and the
position; tests/har_reader.rs checks the exact error kind and position for each.
Run from the repository root: python3 benches/har/make_err_fixtures.py
"""
import gzip
import json
import os

OUT = "fixtures"

GOOD_ENTRY = {
    "startedDateTime": "2024-05-01T10:00:00.000Z",
    "time": 12,
    "request": {"method": "GET", "url": "https://example.eu.auth0.com/api/v2/users",
                "httpVersion": "HTTP/1.1", "cookies": [], "headers": [],
                "queryString": [], "headersSize": -1, "bodySize": -1},
    "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1",
                 "cookies": [], "headers": [],
                 "content": {"size": 2, "mimeType": "application/json", "text": "[]"},
                 "redirectURL": "", "headersSize": -1, "bodySize": -1},
    "cache": {}, "timings": {"send": 0, "wait": 12, "receive": 0},
}


def har(entries):
    return {"log": {"version": "1.2", "creator": {"name": "make_err_fixtures", "version": "1"},
                    "entries": entries}}


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def main():
    os.makedirs(OUT, exist_ok=True)
    write("err-empty.har", b"")
    full = json.dumps(har([GOOD_ENTRY, GOOD_ENTRY]), indent=2).encode()
    # Cut in the middle of the second entry: the first one is still delivered.
    truncated = full[: full.rfind(b'"response"')]
    write("err-truncated.har", truncated)
    write("err-truncated.har.gz", gzip.compress(truncated, mtime=0))
    junk = bytes([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) + bytes((i * 37) % 256 for i in range(256))
    write("err-junk.har", junk)
    wrong = {"log": {"version": "1.2", "creator": {"name": "x", "version": "1"},
                     "entries": {"0": GOOD_ENTRY}}}
    write("err-wrong-types.har", json.dumps(wrong, indent=2).encode())
    deep = '{"log": {"version": "1.2", "entries": [\n  {"request": ' + "[" * 200 + "]" * 200 + "}\n]}}\n"
    write("err-deep.har", deep.encode())
    write("err-no-log.har", json.dumps({"version": "1.2", "entries": []}).encode())


if __name__ == "__main__":
    main()
