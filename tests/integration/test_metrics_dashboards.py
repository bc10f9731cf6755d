"""The dashboard and alert rules Keel ships (packaging/grafana,
packaging/prometheus) name only metrics a live broker serves, with the labels
their selectors filter on: a renamed family would leave a panel empty or an
alert silent without anyone noticing."""

import json
import re
from pathlib import Path

import yaml

from test_metrics import scrape, start, traffic

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((REPO / "packaging" / "grafana").glob("*.json"))
RULES = sorted((REPO / "packaging" / "prometheus").glob("*.yml"))

# A metric name with an optional selector: kafka_..., keel_..., process_...
SELECTOR = re.compile(r"\b((?:kafka|keel|process)_[a-z0-9_]+)\b(\{[^}]*\})?")
MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!=|!~|=)\s*"')
# Set by Prometheus's scrape, not by the broker.
SCRAPE_LABELS = {"job", "instance"}


def expressions():
    out = []
    for path in DASHBOARDS:
        dash = json.loads(path.read_text())
        stack = list(dash.get("panels", []))
        while stack:
            p = stack.pop()
            stack.extend(p.get("panels", []))
            out += [(path.name, t["expr"]) for t in p.get("targets", []) if t.get("expr")]
        out += [(path.name, v["definition"]) for v in dash.get("templating", {}).get("list", []) if v.get("definition")]
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            out += [(path.name, r["expr"]) for r in group["rules"]]
    return out


def used_names():
    """{metric name: set of label names its selectors filter on}."""
    names = {}
    for _, expr in expressions():
        for name, selector in SELECTOR.findall(expr):
            labels = {m[0] for m in MATCHER.findall(selector or "")} - SCRAPE_LABELS
            names.setdefault(name, set()).update(labels)
    return names


def test_shipped_files_parse_and_name_metrics():
    assert DASHBOARDS and RULES
    exprs = expressions()
    assert len(exprs) > 30
    names = used_names()
    assert "keel_request_latency_seconds_bucket" in names and "keel_consumergroup_status" in names
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                assert rule["alert"].startswith("Keel") and rule["annotations"]["summary"]


def test_every_metric_in_the_dashboards_and_alerts_is_served(make_broker):
    b = start(make_broker)
    consumer, group = traffic(b.bootstrap, "dash-topic", n=20)
    try:
        samples = scrape(b.http_port)
        missing = sorted(n for n in used_names() if n not in samples)
        assert not missing, "named by packaging/ but not on /metrics: %s" % missing
        for name, labels in used_names().items():
            have = set().union(*(set(l) for l, _ in samples[name]))
            assert labels <= have, "%s is filtered on %s but its series have %s" % (name, labels, have)
    finally:
        consumer.close()
    assert b.stop() == 0
