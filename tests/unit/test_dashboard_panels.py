"""Calico's dashboard panels drawn without Grafana: legends filled in as Grafana does, one chart per panel."""

from __future__ import annotations

import pandas as pd

from kanslab import plot
from kanslab.emulator.metric_table import dashboard_panels
from kanslab.lessons import _legend, dashboard


class FakeLab:
    """Answers range queries with one series per node for `felix_*`, nothing for the rest."""

    def __init__(self):
        self.asked = []

    def prometheus_query_range(self, promql, start, end=None, step="1s", server=None):
        self.asked.append((promql, server))
        if "ipset" in promql:
            return pd.DataFrame(columns=["metric", "timestamp", "value"])
        ts = pd.to_datetime([0, 5], unit="s", utc=True)
        return pd.DataFrame([{"metric": "m", "instance": f"10.0.0.{i}:9091", "job": "felix_metrics",
                              "timestamp": t, "value": float(i)} for i in (1, 2) for t in ts])


def test_legend_is_filled_as_grafana_fills_it():
    assert _legend("{{instance}} ipset errors", {"instance": "1.2.3.4:9091"}, "q") == "1.2.3.4:9091 ipset errors"
    assert _legend("{{ippool}} {{node}}", {"ippool": "p"}, "q") == "p"  # an unknown label is left empty
    assert _legend("", {"metric": "", "node": "k8s-w1"}, "q") == '{node="k8s-w1"}'
    assert _legend("", {"metric": ""}, "max(x)") == "max(x)"


def test_dashboard_asks_every_target_of_calico_felix_dashboard():
    lab = FakeLab()
    df = dashboard(lab, "felix", start=0, server="192.168.10.10:30001")
    exprs = [t["expr"] for p in dashboard_panels("felix") for t in p["targets"]]
    assert [q for q, _ in lab.asked] == exprs and {s for _, s in lab.asked} == {"192.168.10.10:30001"}
    assert list(df.panel.drop_duplicates()) == list(dict.fromkeys(p["title"] for p in dashboard_panels("felix")))
    hosts = df[df.panel == "Active hosts on each node"]
    assert set(hosts.series) == {"10.0.0.1:9091", "10.0.0.2:9091"}
    assert df[df.panel == "ipset errors"].value.isna().all()  # no data: the panel stays, empty


def test_plot_draws_one_chart_per_panel_and_one_legend_entry_per_series():
    df = dashboard(FakeLab(), "felix", start=0)
    fig = plot.dashboard(df, "Felix")
    titles = [a.text for a in fig.layout.annotations]
    assert len(titles) == df.panel.nunique() and "ipset errors: no data" in titles
    assert sum(bool(t.showlegend) for t in fig.data) == df.series.dropna().nunique()
