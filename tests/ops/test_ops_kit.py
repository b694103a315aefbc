"""The operations kit in ops/: the Prometheus alert rules pass `promtool check rules` and their unit tests
(`promtool test rules`), the Grafana dashboard's queries are valid PromQL, and both read only metrics Tidings
exports (src/tidings/metrics.py). promtool comes from Debian's `prometheus` package (./scripts/test installs it)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tidings.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "ops" / "prometheus" / "tidings-alerts.yml"
RULE_TESTS = ROOT / "ops" / "prometheus" / "tidings-alerts.test.yml"
DASHBOARD = ROOT / "ops" / "grafana" / "tidings-dashboard.json"
METRIC = re.compile(r"\btidings_[a-z_]+\b")


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: apt-get install prometheus (./scripts/test does, as root)"
    return found


def exported() -> set[str]:
    """Every series name /metrics can carry: counters as <name>_total (and _created), the rest as named."""
    names = set()
    for family in Metrics().registry.collect():
        if family.type == "counter":
            names |= {f"{family.name}_total", f"{family.name}_created"}
        else:
            names.add(family.name)
    return names


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_promtool_checks_the_rules() -> None:
    run = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout


def test_each_alert_fires_on_its_series_and_none_on_a_healthy_node() -> None:
    run = subprocess.run([promtool(), "test", "rules", RULE_TESTS.name], capture_output=True, text=True,
                         timeout=60, cwd=RULE_TESTS.parent)
    assert run.returncode == 0, run.stdout + run.stderr
    tested = {case["alertname"] for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
              for case in test["alert_rule_test"]}
    alerts = {rule["alert"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]}
    # Every alert fires in some test but the two that only guard against silence (refusals, HTTP errors, backlog).
    assert alerts - tested <= {"TidingsConnectionsRefused", "TidingsSlowConsumerCuts", "TidingsHttpErrors",
                               "TidingsWebhookBacklog"}, alerts - tested


def test_the_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    # promtool has no "check query": the queries become recording rules, which it parses.
    concrete = [q.replace("$__rate_interval", "5m").replace("$instance", ".*") for q in dashboard_queries()]
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": q} for i, q in enumerate(concrete)
    ]}]}
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump(rules))
    run = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("source", ["rules", "dashboard"])
def test_only_metrics_tidings_exports_are_read(source: str) -> None:
    text = RULES.read_text() if source == "rules" else "\n".join(dashboard_queries())
    used = set(METRIC.findall(text))
    assert used, source
    assert used - exported() == set(), f"{source} reads metrics Tidings does not export"


def test_the_dashboard_covers_what_the_issue_names() -> None:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    queries = "\n".join(dashboard_queries())
    for metric in ("tidings_connections", "tidings_beams_notifications_total",
                   "tidings_slow_consumer_disconnects_total", "tidings_webhooks_dropped_total",
                   "tidings_beams_queue_publishes",
                   "tidings_beams_queue_oldest_age_seconds", "tidings_beams_failures_total"):
        assert metric in queries, metric
    assert {v["name"] for v in dashboard["templating"]["list"]} == {"datasource", "instance"}
