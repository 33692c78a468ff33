#!/usr/bin/env python3
"""Writes authtap.json (Grafana Classic JSON model) from the panel list below.

Every expression uses only metrics authtap exports; `cargo test --test metrics_dashboards`
checks that against a real exposition. Run: python3 dashboards/grafana/gen-dashboard.py
"""
import json
import os

DS = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'tenant=~"$tenant"'
EP = 'endpoint=~"$endpoint"'
RI = "$__rate_interval"

panels = []
y = 0


def row(title):
    global y
    panels.append({"type": "row", "title": title, "collapsed": False,
                   "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}, "panels": []})
    y += 1


def panel(kind, title, desc, targets, x, w, h=8, unit=None, extra=None):
    p = {
        "type": kind, "title": title, "description": desc, "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "targets": [{"refId": chr(65 + i), "expr": e, "legendFormat": l, "datasource": DS}
                    for i, (e, l) in enumerate(targets)],
        "fieldConfig": {"defaults": {"unit": unit or "short"}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "right", "calcs": ["lastNotNull", "max"]}},
    }
    if extra:
        p.update(extra)
    panels.append(p)


def next_row(h=8):
    global y
    y += h


row("Auth failures")
panel("timeseries", "Auth failures by reason",
      "Failed Auth0 calls per second, by reason (closed set: invalid_token, bad_header_format, insufficient_scope, ...).",
      [(f'sum by (reason) (rate(authtap_auth_failures_total{{{SEL},{EP}}}[{RI}]))', "{{reason}}")], 0, 12, unit="reqps")
panel("timeseries", "Auth failures by endpoint",
      "Failed calls per second by API, endpoint template and status.",
      [(f'sum by (api, endpoint, status) (rate(authtap_auth_failures_total{{{SEL},{EP}}}[{RI}]))', "{{api}} {{endpoint}} {{status}}")], 12, 12, unit="reqps")
next_row()
panel("timeseries", "Exchanges by endpoint and status class",
      "All HTTP exchanges seen with Auth0, by endpoint template and status class.",
      [(f'sum by (endpoint, status_class) (rate(authtap_http_exchanges_total{{{SEL},{EP}}}[{RI}]))', "{{endpoint}} {{status_class}}")], 0, 12, unit="reqps")
panel("timeseries", "Findings by rule",
      "Findings per rule and severity (`authtap rules <id>` explains each).",
      [(f'sum by (rule, severity) (increase(authtap_findings_total{{{SEL}}}[{RI}])) > 0', "{{rule}} ({{severity}})")], 12, 12,
      extra={"fieldConfig": {"defaults": {"unit": "short", "custom": {"drawStyle": "bars"}}, "overrides": []}})
next_row()

row("Scopes and tokens")
panel("barchart", "Scope mismatches by scope",
      "Scopes requested but not granted (not_granted) or needed by an endpoint but missing (insufficient), over the dashboard range.",
      [(f'sort_desc(sum by (kind, scope) (increase(authtap_scope_mismatches_total{{{SEL}}}[$__range])))', "{{kind}} {{scope}}")], 0, 12,
      extra={"targets": [{"refId": "A", "datasource": DS, "instant": True, "format": "table",
                          "expr": f'sort_desc(sum by (kind, scope) (increase(authtap_scope_mismatches_total{{{SEL}}}[$__range])))',
                          "legendFormat": "{{kind}} {{scope}}"}]})
panel("timeseries", "Token issuance by grant and format",
      "Tokens issued per second, by grant, token kind and format (opaque access tokens mean a missing audience).",
      [(f'sum by (grant, token, format) (rate(authtap_tokens_observed_total{{{SEL}}}[{RI}]))', "{{grant}} {{token}} {{format}}")], 12, 12, unit="reqps")
next_row()
panel("heatmap", "Token lifetime",
      "Distribution of issued token lifetimes (exp - iat, or expires_in).",
      [(f'sum by (le) (increase(authtap_token_lifetime_seconds_bucket{{{SEL}}}[{RI}]))', "{{le}}")], 0, 12, unit="s",
      extra={"options": {"calculate": False, "yAxis": {"unit": "s"}, "cellGap": 1}})
panel("stat", "Median token lifetime",
      "Median lifetime of tokens issued in the dashboard range.",
      [(f'histogram_quantile(0.5, sum by (le) (increase(authtap_token_lifetime_seconds_bucket{{{SEL}}}[$__range])))', "p50")], 12, 12, unit="s",
      extra={"options": {"reduceOptions": {"calcs": ["lastNotNull"]}}})
next_row()

row("Management API")
panel("timeseries", "Management API latency",
      "p50 and p95 duration of Management API calls.",
      [(f'histogram_quantile(0.95, sum by (le) (rate(authtap_http_request_duration_seconds_bucket{{{SEL},api="management"}}[{RI}])))', "p95"),
       (f'histogram_quantile(0.5, sum by (le) (rate(authtap_http_request_duration_seconds_bucket{{{SEL},api="management"}}[{RI}])))', "p50"),
       (f'sum(rate(authtap_http_request_duration_seconds_sum{{{SEL},api="management"}}[{RI}])) / sum(rate(authtap_http_request_duration_seconds_count{{{SEL},api="management"}}[{RI}]))', "mean")],
      0, 12, unit="s")
panel("timeseries", "Rate-limit headroom",
      "Last x-ratelimit-remaining per API; near 0 means the next calls get 429.",
      [(f'min by (api) (authtap_ratelimit_remaining{{{SEL}}})', "{{api}} remaining"),
       (f'sum by (api) (rate(authtap_auth_failures_total{{{SEL},reason="rate_limited"}}[{RI}]))', "{{api}} 429/s")],
      12, 12, extra={"fieldConfig": {"defaults": {"unit": "short", "thresholds": {"mode": "absolute", "steps": [
          {"color": "red", "value": None}, {"color": "orange", "value": 5}, {"color": "green", "value": 20}]}}, "overrides": []}})
next_row()

row("Capture and proxy health")
panel("timeseries", "Packets and bytes captured",
      "Capture throughput (0 for proxy mode).",
      [(f'sum by (instance) (rate(authtap_capture_packets_total{{{SEL}}}[{RI}]))', "{{instance}} packets/s"),
       (f'sum by (instance) (rate(authtap_capture_bytes_total{{{SEL}}}[{RI}]))', "{{instance}} bytes/s")], 0, 8)
panel("timeseries", "Dropped by stage and reason",
      "Anything authtap could not keep: kernel drops, TCP gaps, caps hit. Should be 0.",
      [(f'sum by (stage, reason) (rate(authtap_dropped_total{{{SEL}}}[{RI}])) > 0', "{{stage}}/{{reason}}")], 8, 8)
panel("timeseries", "TLS sessions by decryption",
      "TLS sessions seen; decrypted=false means no key log secret matched.",
      [(f'sum by (decrypted) (rate(authtap_tls_sessions_total{{{SEL}}}[{RI}]))', "decrypted={{decrypted}}")], 16, 8)
next_row()
panel("stat", "Flows tracked",
      "Flows currently held in the correlation table.",
      [(f'sum(authtap_flows_active{{{SEL}}})', "flows")], 0, 8, h=4)
panel("table", "authtap versions",
      "Running authtap instances and their versions.",
      [(f'sum by (instance, version) (authtap_build_info{{{SEL}}})', "{{instance}} {{version}}")], 8, 16, h=4,
      extra={"targets": [{"refId": "A", "datasource": DS, "instant": True, "format": "table",
                          "expr": f'sum by (instance, version) (authtap_build_info{{{SEL}}})'}]})
next_row(4)

for i, p in enumerate(panels, start=1):
    p["id"] = i

dashboard = {
    "__inputs": [{"name": "DS_PROMETHEUS", "label": "Prometheus", "description": "Prometheus that scrapes authtap",
                  "type": "datasource", "pluginId": "prometheus", "pluginName": "Prometheus"}],
    "__requires": [
        {"type": "grafana", "id": "grafana", "name": "Grafana", "version": "9.0.0"},
        {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
        {"type": "panel", "id": "timeseries", "name": "Time series", "version": ""},
        {"type": "panel", "id": "barchart", "name": "Bar chart", "version": ""},
        {"type": "panel", "id": "heatmap", "name": "Heatmap", "version": ""},
        {"type": "panel", "id": "stat", "name": "Stat", "version": ""},
        {"type": "panel", "id": "table", "name": "Table", "version": ""},
    ],
    "id": None,
    "uid": "authtap-auth0-overview",
    "title": "authtap: Auth0 auth failures",
    "description": "Why Auth0 calls fail: reasons, scopes, tokens, rate limits and authtap's own health.",
    "tags": ["authtap", "auth0", "oauth"],
    "timezone": "browser",
    "editable": True,
    "graphTooltip": 1,
    "time": {"from": "now-6h", "to": "now"},
    "timepicker": {"refresh_intervals": ["30s", "1m", "5m", "15m"]},
    "refresh": "1m",
    "schemaVersion": 39,
    "version": 1,
    "links": [],
    "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                              "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                              "name": "Annotations & Alerts", "type": "dashboard"}]},
    "templating": {"list": [
        {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
         "current": {"text": "${DS_PROMETHEUS}", "value": "${DS_PROMETHEUS}"}, "hide": 0, "refresh": 1,
         "regex": "", "options": []},
        {"name": "tenant", "label": "Tenant", "type": "query", "datasource": DS,
         "description": "The `tenant` target label set in your scrape config (authtap adds none itself, to keep labels bounded).",
         "query": {"query": "label_values(authtap_build_info, tenant)", "refId": "tenant"},
         "definition": "label_values(authtap_build_info, tenant)",
         "includeAll": True, "allValue": ".*", "multi": True, "refresh": 2, "sort": 1, "hide": 0,
         "current": {"text": "All", "value": "$__all"}, "options": []},
        {"name": "endpoint", "label": "Endpoint", "type": "query", "datasource": DS,
         "query": {"query": "label_values(authtap_http_exchanges_total, endpoint)", "refId": "endpoint"},
         "definition": "label_values(authtap_http_exchanges_total, endpoint)",
         "includeAll": True, "allValue": ".*", "multi": True, "refresh": 2, "sort": 1, "hide": 0,
         "current": {"text": "All", "value": "$__all"}, "options": []},
    ]},
    "panels": panels,
}

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "authtap.json"), "w") as f:
    json.dump(dashboard, f, indent=2)
    f.write("\n")
