#!/usr/bin/env python3
"""Write an N-MB HAR 1.2 file of Auth0 Management API traffic, for the HAR reader benchmark.

Usage: python3 benches/har/gen_har.py OUT.har [MEGABYTES=200] [SEED=1]

Each entry is a Management API call (users, roles, clients, logs, ...) carrying a Bearer RS256
JWT, Chrome-like request/response headers, JSON request bodies for writes and JSON responses
(user lists of varying size, Auth0 error bodies for 401/403/429). Every 50th entry is an
/oauth/token client_credentials grant. The output is pretty-printed like a DevTools export.
Entries are streamed to disk, so generating 200 MB needs little memory.
"""
import base64
import datetime
import json
import random
import sys

TENANT = "dev-bench.eu.auth0.com"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(rng: random.Random, now: int) -> str:
    header = {"alg": "RS256", "typ": "JWT", "kid": "bench-key-1"}
    claims = {
        "iss": f"https://{TENANT}/",
        "sub": "bench-client@clients",
        "aud": f"https://{TENANT}/api/v2/",
        "iat": now,
        "exp": now + 86400,
        "scope": "read:users update:users delete:users read:roles create:roles read:clients read:logs",
        "gty": "client-credentials",
        "azp": "bench-client",
    }
    sig = bytes(rng.getrandbits(8) for _ in range(256))
    return ".".join([
        b64url(json.dumps(header, separators=(",", ":")).encode()),
        b64url(json.dumps(claims, separators=(",", ":")).encode()),
        b64url(sig),
    ])


def user(rng: random.Random, i: int) -> dict:
    uid = f"auth0|{rng.getrandbits(64):016x}"
    return {
        "user_id": uid,
        "email": f"user{i}@example.com",
        "email_verified": rng.random() < 0.8,
        "name": f"Bench User {i}",
        "nickname": f"user{i}",
        "picture": f"https://s.gravatar.com/avatar/{rng.getrandbits(128):032x}?s=480&r=pg&d=https%3A%2F%2Fcdn.auth0.com%2Favatars%2Fbu.png",
        "created_at": "2024-01-02T03:04:05.678Z",
        "updated_at": "2024-05-01T10:00:00.000Z",
        "last_login": "2024-05-01T09:59:00.000Z",
        "logins_count": rng.randint(1, 500),
        "identities": [{"provider": "auth0", "user_id": uid.split("|")[1], "connection": "Username-Password-Authentication", "isSocial": False}],
        "user_metadata": {"theme": rng.choice(["dark", "light"]), "locale": rng.choice(["en", "fr", "de"])},
        "app_metadata": {"plan": rng.choice(["free", "pro", "enterprise"]), "roles": ["member"]},
    }


def headers(pairs):
    return [{"name": n, "value": v} for n, v in pairs]


CALLS = [
    ("GET", "/api/v2/users", "list"),
    ("GET", "/api/v2/users/{id}", "one"),
    ("PATCH", "/api/v2/users/{id}", "one"),
    ("DELETE", "/api/v2/users/{id}", "none"),
    ("GET", "/api/v2/roles", "roles"),
    ("POST", "/api/v2/roles", "role"),
    ("GET", "/api/v2/clients", "clients"),
    ("GET", "/api/v2/logs", "logs"),
    ("GET", "/api/v2/users/{id}/roles", "roles"),
]


def entry(rng: random.Random, i: int, t: datetime.datetime, token: str) -> dict:
    started = t.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if i % 50 == 0:
        method, path, kind = "POST", "/oauth/token", "token"
    else:
        method, path, kind = rng.choice(CALLS)
    uid = f"auth0%7C{rng.getrandbits(64):016x}"
    path = path.replace("{id}", uid)
    query = ""
    if kind == "list":
        query = f"?q=email%3A%22user{rng.randint(0, 9999)}%40example.com%22&search_engine=v3&page={rng.randint(0, 9)}&per_page=50&include_totals=true"
    url = f"https://{TENANT}{path}{query}"
    req_headers = [
        (":authority", TENANT), (":method", method), (":path", path + query), (":scheme", "https"),
        ("accept", "application/json"),
        ("accept-encoding", "gzip, deflate, br"),
        ("accept-language", "en-US,en;q=0.9"),
        ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"),
        ("origin", "https://admin.bench.example"),
        ("referer", "https://admin.bench.example/users"),
        ("sec-fetch-mode", "cors"), ("sec-fetch-site", "cross-site"),
        ("auth0-client", b64url(json.dumps({"name": "node-auth0", "version": "4.3.1"}).encode())),
    ]
    post = None
    if kind == "token":
        body = json.dumps({"grant_type": "client_credentials", "client_id": "bench-client",
                           "client_secret": b64url(bytes(rng.getrandbits(8) for _ in range(48))),
                           "audience": f"https://{TENANT}/api/v2/"})
        post = {"mimeType": "application/json", "text": body}
        req_headers.append(("content-type", "application/json"))
    else:
        req_headers.append(("authorization", "Bearer " + token))
        if method in ("PATCH", "POST"):
            body = json.dumps({"user_metadata": {"theme": "dark"}} if method == "PATCH" else {"name": f"role-{i}", "description": "bench role"})
            post = {"mimeType": "application/json", "text": body}
            req_headers.append(("content-type", "application/json"))

    roll = rng.random()
    if kind == "token":
        status, text = 200, json.dumps({"access_token": token, "scope": "read:users update:users", "expires_in": 86400, "token_type": "Bearer"})
    elif roll < 0.05:
        status, text = 401, json.dumps({"statusCode": 401, "error": "Unauthorized", "message": "Invalid token", "attributes": {"error": "Invalid token"}})
    elif roll < 0.10:
        status, text = 403, json.dumps({"statusCode": 403, "error": "Forbidden", "message": "Insufficient scope, expected any of: delete:users", "errorCode": "insufficient_scope"})
    elif roll < 0.12:
        status, text = 429, json.dumps({"statusCode": 429, "error": "Too Many Requests", "message": "Global limit has been reached", "errorCode": "too_many_requests"})
    elif kind == "list":
        status, text = 200, json.dumps({"start": 0, "limit": 50, "length": 0, "total": 1234, "users": [user(rng, j) for j in range(rng.randint(1, 25))]})
    elif kind == "one":
        status, text = 200, json.dumps(user(rng, i))
    elif kind == "none":
        status, text = 204, ""
    elif kind == "logs":
        status, text = 200, json.dumps([{"date": started, "type": rng.choice(["s", "f", "seccft"]), "client_id": "bench-client", "ip": f"10.0.{rng.randint(0,255)}.{rng.randint(0,255)}", "user_agent": "node", "log_id": f"{rng.getrandbits(96):024x}"} for _ in range(rng.randint(5, 40))])
    else:
        status, text = 200, json.dumps([{"id": f"rol_{rng.getrandbits(64):016x}", "name": f"role-{k}", "description": "bench"} for k in range(rng.randint(1, 10))])
    remaining = rng.randint(0, 50) if status != 429 else 0
    resp_headers = [
        ("content-type", "application/json; charset=utf-8"),
        ("date", t.strftime("%a, %d %b %Y %H:%M:%S GMT")),
        ("x-ratelimit-limit", "50"), ("x-ratelimit-remaining", str(remaining)),
        ("x-ratelimit-reset", str(int(t.timestamp()) + 1)),
        ("x-auth0-requestid", f"{rng.getrandbits(80):020x}"),
        ("cache-control", "no-cache"), ("strict-transport-security", "max-age=31536000"),
        ("vary", "origin,accept-encoding"), ("access-control-allow-origin", "https://admin.bench.example"),
        ("access-control-expose-headers", "WWW-Authenticate,Server-Authorization"),
        ("content-encoding", "gzip"), ("cf-cache-status", "DYNAMIC"), ("server", "cloudflare"),
    ]
    if status == 401:
        resp_headers.append(("www-authenticate", 'Bearer realm="Auth0", error="invalid_token", error_description="Invalid token"'))
    wait = round(rng.uniform(20, 300), 3)
    e = {
        "_initiator": {"type": "script"},
        "_priority": "High",
        "_resourceType": "fetch",
        "cache": {},
        "connection": str(rng.randint(100000, 999999)),
        "pageref": "page_1",
        "request": {
            "method": method, "url": url, "httpVersion": "http/2.0",
            "headers": headers(req_headers),
            "queryString": [], "cookies": [],
            "headersSize": -1, "bodySize": len(post["text"]) if post else 0,
        },
        "response": {
            "status": status, "statusText": "", "httpVersion": "http/2.0",
            "headers": headers(resp_headers), "cookies": [],
            "content": {"size": len(text), "mimeType": "application/json", "compression": -1, "text": text},
            "redirectURL": "", "headersSize": -1, "bodySize": -1, "_transferSize": len(text) // 3 + 400, "_error": None,
        },
        "serverIPAddress": "104.18.30.188",
        "startedDateTime": started,
        "time": wait + 1.5,
        "timings": {"blocked": 0.5, "dns": -1, "ssl": -1, "connect": -1, "send": 0.2, "wait": wait, "receive": 0.8, "_blocked_queueing": 0.3},
    }
    if post:
        e["request"]["postData"] = post
    return e


def main():
    out = sys.argv[1]
    megabytes = float(sys.argv[2]) if len(sys.argv) > 2 else 200
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    limit = int(megabytes * 1024 * 1024)
    t = datetime.datetime(2024, 5, 1, 10, 0, 0, tzinfo=datetime.timezone.utc)
    token = jwt(rng, int(t.timestamp()))
    n = 0
    with open(out, "w", encoding="utf-8") as f:
        head = '{\n  "log": {\n    "version": "1.2",\n    "creator": {\n      "name": "gen_har.py",\n      "version": "1"\n    },\n    "pages": [\n      {"startedDateTime": "2024-05-01T10:00:00.000Z", "id": "page_1", "title": "admin", "pageTimings": {}}\n    ],\n    "entries": ['
        f.write(head)
        written = len(head)
        while written < limit:
            text = json.dumps(entry(rng, n, t, token), indent=2)
            text = "\n      " + text.replace("\n", "\n      ")
            if n:
                text = "," + text
            f.write(text)
            written += len(text)
            n += 1
            t += datetime.timedelta(milliseconds=rng.randint(1, 40))
            if n % 500 == 0:
                token = jwt(rng, int(t.timestamp()))
        f.write("\n    ]\n  }\n}\n")
    print(f"{out}: {n} entries, {written / 1048576:.1f} MiB", file=sys.stderr)


if __name__ == "__main__":
    main()
