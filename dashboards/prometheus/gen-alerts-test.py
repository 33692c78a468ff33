#!/usr/bin/env python3
"""Regenerates alerts.test.yml from the cases below and the annotations in alerts.yml.

promtool compares annotations exactly, so the expected annotations are expanded here from
alerts.yml (only `{{ $labels.x }}` templates are used there). Run after editing alerts.yml:
    python3 dashboards/prometheus/gen-alerts-test.py && promtool test rules dashboards/prometheus/alerts.test.yml
"""
import os
import re
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
INST = 'job="authtap",instance="pod-a:9464"'

# (alert, input_series, eval_time, expected label sets (without severity); [] = must not fire)
CASES = [
    ("AuthtapAuthFailuresSpiking",
     [(f'authtap_auth_failures_total{{{INST},api="management",endpoint="/api/v2/users/{{id}}",status="401",reason="invalid_token"}}', "0+5x30")],
     "15m", [{"api": "management", "reason": "invalid_token"}]),
    ("AuthtapAuthFailuresSpiking",
     [(f'authtap_auth_failures_total{{{INST},api="management",endpoint="/api/v2/users/{{id}}",status="401",reason="invalid_token"}}', "0+1x30")],
     "15m", []),
    ("AuthtapInsufficientScope",
     [(f'authtap_findings_total{{{INST},rule="insufficient-scope",severity="error"}}', "0 0 0 1 1 1 1 1")],
     "5m", [{"rule": "insufficient-scope"}]),
    ("AuthtapInsufficientScope",
     [(f'authtap_findings_total{{{INST},rule="insufficient-scope",severity="error"}}', "0x10")],
     "5m", []),
    ("AuthtapScopeNotGranted",
     [(f'authtap_findings_total{{{INST},rule="scope-not-granted",severity="warning"}}', "0 0 1 1 1 1"),
      (f'authtap_scope_mismatches_total{{{INST},kind="not_granted",scope="update:users"}}', "1 1 2 2 2 2")],
     "4m", [{"rule": "scope-not-granted"}, {"scope": "update:users"}]),
    ("AuthtapWrongTokenSentToApi",
     [(f'authtap_findings_total{{{INST},rule="id-token-as-access-token",severity="error"}}', "0 0 1 2 2 2"),
      (f'authtap_findings_total{{{INST},rule="opaque-access-token",severity="error"}}', "0 0 0 0 0 0")],
     "4m", [{"rule": "id-token-as-access-token"}]),
    ("AuthtapSensitiveClaim",
     [(f'authtap_findings_total{{{INST},rule="sensitive-claim",severity="error"}}', "0 1 1")],
     "2m", [{"rule": "sensitive-claim"}]),
    ("AuthtapRateLimitNearlyExhausted",
     [(f'authtap_ratelimit_remaining{{{INST},api="management"}}', "50 20 4 3 2 2 1"),
      (f'authtap_http_exchanges_total{{{INST},api="management",endpoint="/api/v2/users",method="GET",status_class="2xx"}}', "0+10x6")],
     "6m", [{"api": "management"}]),
    ("AuthtapRateLimitNearlyExhausted",
     [(f'authtap_ratelimit_remaining{{{INST},api="management"}}', "2x10"),
      (f'authtap_http_exchanges_total{{{INST},api="management",endpoint="/api/v2/users",method="GET",status_class="2xx"}}', "5x10")],
     "10m", []),
    ("AuthtapRateLimited",
     [(f'authtap_auth_failures_total{{{INST},api="management",endpoint="/api/v2/users",status="429",reason="rate_limited"}}', "0 0 3 6 9 9")],
     "4m", [{"api": "management", "endpoint": "/api/v2/users"}]),
    ("AuthtapTokenEndpointErrors",
     [(f'authtap_auth_failures_total{{{INST},api="authentication",endpoint="/oauth/token",status="403",reason="invalid_grant"}}', "0 0 1 2 3 3 3")],
     "5m", [{"reason": "invalid_grant"}]),
    ("AuthtapCaptureDropping",
     [(f'authtap_dropped_total{{{INST},stage="kernel",reason="buffer"}}', "0+100x20"),
      (f'authtap_dropped_total{{{INST},stage="metrics",reason="label_cap"}}', "0+100x20")],
     "12m", [{"stage": "kernel", "reason": "buffer"}]),
    ("AuthtapTlsUndecrypted",
     [(f'authtap_tls_sessions_total{{{INST},decrypted="false"}}', "0+1x20"),
      (f'authtap_tls_sessions_total{{{INST},decrypted="true"}}', "0+5x20")],
     "12m", [{"job": "authtap", "instance": "pod-a:9464"}]),
    ("AuthtapNoTraffic",
     [(f'authtap_capture_packets_total{{{INST}}}', "1000x60")],
     "45m", [{"job": "authtap", "instance": "pod-a:9464"}]),
    ("AuthtapNoTraffic",
     [(f'authtap_capture_packets_total{{{INST}}}', "0+50x60")],
     "45m", []),
    ("AuthtapAbsent",
     [('some_other_metric{job="x"}', "1x20")],
     "10m", [{}]),
    ("AuthtapAbsent",
     [(f'authtap_build_info{{{INST},version="0.1.0"}}', "1x20")],
     "10m", []),
]


def expand(text, labels):
    return re.sub(r"\{\{\s*\$labels\.(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), text)


def main():
    with open(os.path.join(HERE, "alerts.yml")) as f:
        groups = yaml.safe_load(f)["groups"]
    rules = {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}
    covered = {c[0] for c in CASES}
    missing = set(rules) - covered
    if missing:
        raise SystemExit(f"alerts without a test case: {sorted(missing)}")
    tests = []
    for name, series, at, expected in CASES:
        rule = rules[name]
        exp = []
        for labels in expected:
            full = dict(labels)
            full.update(rule.get("labels", {}))
            exp.append({
                "exp_labels": full,
                "exp_annotations": {k: expand(v, labels) for k, v in rule["annotations"].items()},
            })
        tests.append({
            "interval": "1m",
            "input_series": [{"series": s, "values": v} for s, v in series],
            "alert_rule_test": [{"eval_time": at, "alertname": name, "exp_alerts": exp}],
        })
    doc = {"rule_files": ["alerts.yml"], "evaluation_interval": "1m", "tests": tests}
    with open(os.path.join(HERE, "alerts.test.yml"), "w") as f:
        f.write("# Generated by gen-alerts-test.py from its CASES and alerts.yml; do not edit by hand.\n")
        f.write("# Run: promtool test rules dashboards/prometheus/alerts.test.yml\n")
        yaml.safe_dump(doc, f, sort_keys=False, width=100)


if __name__ == "__main__":
    main()
