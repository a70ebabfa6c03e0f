"""ops/grafana/wms.json: a Grafana dashboard whose queries name only series /metrics has."""

import json
import re
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

DASHBOARD = Path(__file__).resolve().parents[2] / "ops" / "grafana" / "wms.json"
_SUFFIXES = ("", "_total", "_bucket", "_count", "_sum")


@pytest.mark.django_db
def test_dashboard_queries_use_only_exposed_series(client):
    """Every wms_* and django_* series a panel or variable queries is one this process
    exposes (counters with _total, histograms with _bucket), so no panel stays empty."""
    client.get("/healthz")  # the middleware and URLs loaded: their metrics defined
    exposed = {family.name + suffix for family in REGISTRY.collect() for suffix in _SUFFIXES}
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    used = {name for expr in exprs for name in re.findall(r"\b(?:wms|django)_[a-z_]+", expr)}
    assert len(used) > 15
    assert used <= exposed, sorted(used - exposed)
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
