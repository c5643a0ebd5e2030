"""kanslab.parse.prometheus on the text exposition format as Felix (client_golang) writes it."""

import pandas as pd
import pytest

from kanslab.emulator import felix_metrics
from kanslab.parse import prometheus

from .fixtures import assert_parse_error

# the shapes client_golang writes: a gauge, a counter without `_total`, a labelled gauge vector,
# a summary with quantiles, `_sum` and `_count`, an escaped label value, NaN and +Inf
FELIX_LIKE = """\
# HELP felix_active_local_endpoints Number of active endpoints on this host.
# TYPE felix_active_local_endpoints gauge
felix_active_local_endpoints 91
# HELP felix_iptables_restore_calls Number of iptables-restore calls.
# TYPE felix_iptables_restore_calls counter
felix_iptables_restore_calls 1234
# HELP felix_iptables_rules Number of active iptables rules.
# TYPE felix_iptables_rules gauge
felix_iptables_rules{ip_version="4",table="filter"} 224
felix_iptables_rules{ip_version="4",table="nat"} 13
# HELP felix_int_dataplane_apply_time_seconds Time in seconds that it took to apply a dataplane update.
# TYPE felix_int_dataplane_apply_time_seconds summary
felix_int_dataplane_apply_time_seconds{quantile="0.5"} 0.004
felix_int_dataplane_apply_time_seconds{quantile="0.9"} NaN
felix_int_dataplane_apply_time_seconds_sum 12.5
felix_int_dataplane_apply_time_seconds_count 2001
# HELP felix_build_info A metric with a constant '1' value.
# TYPE felix_build_info gauge
felix_build_info{version="v3.28.1 \\"x\\""} 1
# HELP process_max_fds Maximum number of open file descriptors.
# TYPE process_max_fds gauge
process_max_fds +Inf
# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{code="200"} 7
"""


def test_one_row_per_sample_with_type_labels_value_and_help():
    df = prometheus(FELIX_LIKE)
    assert list(df.columns) == ["metric", "type", "code", "ip_version", "quantile", "table", "version", "value",
                                "help"]
    assert len(df) == 11
    row = df[df.metric == "felix_active_local_endpoints"].iloc[0]
    assert (row.type, row.value, row.help) == ("gauge", 91.0, "Number of active endpoints on this host.")
    assert row.table is None and row.ip_version is None
    rules = df[df.metric == "felix_iptables_rules"].set_index("table").value
    assert rules.to_dict() == {"filter": 224.0, "nat": 13.0}
    assert df.value.dtype == float


def test_counter_keeps_the_name_the_text_writes():
    df = prometheus(FELIX_LIKE)
    # client_golang writes counters without `_total`; prometheus_client would call it ..._total
    assert "felix_iptables_restore_calls" in set(df.metric)
    assert "felix_iptables_restore_calls_total" not in set(df.metric)
    assert df[df.metric == "felix_iptables_restore_calls"].type.item() == "counter"
    # a counter written with `_total` stays as written
    assert df[df.metric == "http_requests_total"].code.item() == "200"


def test_summary_rows_and_special_values():
    df = prometheus(FELIX_LIKE)
    s = df[df.metric.str.startswith("felix_int_dataplane_apply_time_seconds")]
    assert list(s.metric) == ["felix_int_dataplane_apply_time_seconds"] * 2 + [
        "felix_int_dataplane_apply_time_seconds_sum", "felix_int_dataplane_apply_time_seconds_count"]
    assert set(s.type) == {"summary"} and list(s["quantile"][:2]) == ["0.5", "0.9"]
    assert pd.isna(s.value.iloc[1])
    assert df[df.metric == "process_max_fds"].value.item() == float("inf")
    assert df[df.metric == "felix_build_info"].version.item() == 'v3.28.1 "x"'


def test_prompt_crlf_and_colours_around_the_output():
    text = "root@k8s-m:~# curl -s http://192.168.10.101:9091/metrics\r\n" + \
        FELIX_LIKE.replace("\n", "\r\n").replace("91\r", "\x1b[0m91\r")
    df = prometheus(text)
    assert len(df) == 11 and df[df.metric == "felix_active_local_endpoints"].value.item() == 91


def test_the_lab_felix_output_round_trips():
    rows = [("felix_active_local_endpoints", {}, 2), ("felix_iptables_rules", {"ip_version": "4", "table": "filter"}, 40),
            ("felix_iptables_restore_calls", {}, 3)]
    df = prometheus(felix_metrics.exposition(rows))
    got = [(r.metric, {k: v for k, v in (("ip_version", r.ip_version), ("table", r.table)) if v}, r.value)
           for r in df.itertuples()]
    assert sorted(got, key=str) == sorted(rows, key=str)


@pytest.mark.parametrize("text", [
    "",
    "\n\n",
    "Kernel IP routing table\nDestination     Gateway         Genmask\n",
    "<html><body>404 page not found</body></html>\n",
    "# HELP x only comments\n# TYPE x gauge\n",
    'felix_iptables_rules{table="filter" 1\n',
    "curl: (7) Failed to connect to 192.168.10.101 port 9091 after 0 ms: Couldn't connect to server\n",
])
def test_text_that_is_not_the_exposition_format(text):
    assert_parse_error(prometheus, text)


def test_error_names_the_line():
    e = assert_parse_error(prometheus, "# HELP a b\na 1\nthis is not a metric line\n")
    assert e.lineno == 3 and e.line == "this is not a metric line"


# ---------------------------------------------------------------- the HTTP API's JSON (prometheus_api)
# answers as Prometheus 2.x's /api/v1/query and /api/v1/query_range write them
VECTOR = ('{"status":"success","data":{"resultType":"vector","result":['
          '{"metric":{"__name__":"felix_active_local_endpoints","instance":"192.168.10.101:9091","job":"felix"},'
          '"value":[1733400000.123,"2"]},'
          '{"metric":{"__name__":"felix_active_local_endpoints","instance":"192.168.10.10:9091","job":"felix"},'
          '"value":[1733400000.123,"0"]}]}}')
MATRIX = ('{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"job":"felix"},'
          '"values":[[1733400000,"1"],[1733400001,"1.5"]]}]}}')


def test_prometheus_api_vector_one_row_per_series():
    from kanslab.parse import prometheus_api

    df = prometheus_api(VECTOR)
    assert list(df.columns) == ["metric", "instance", "job", "timestamp", "value"]
    assert list(df.value) == [2.0, 0.0] and set(df.metric) == {"felix_active_local_endpoints"}
    assert df.timestamp.iloc[0] == pd.Timestamp(1733400000.123, unit="s", tz="UTC")


def test_prometheus_api_matrix_and_scalar():
    from kanslab.parse import prometheus_api

    df = prometheus_api(MATRIX)
    assert list(df.value) == [1.0, 1.5] and list(df.metric) == ["", ""] and list(df.job) == ["felix", "felix"]
    scalar = prometheus_api({"resultType": "scalar", "result": [1733400000, "3"]})  # a decoded `data`
    assert list(scalar.columns) == ["metric", "timestamp", "value"] and scalar.value.item() == 3.0


def test_prometheus_api_rejects_other_text_and_errors():
    from kanslab.parse import prometheus_api

    assert_parse_error(prometheus_api, FELIX_LIKE)   # the text format is `prometheus`'s, not this one's
    e = assert_parse_error(prometheus_api, '{"status":"error","errorType":"bad_data",'
                                           '"error":"1:5: parse error: unexpected end of input"}')
    assert "bad_data" in str(e) and "unexpected end of input" in str(e)
    assert_parse_error(prometheus_api, '{"status":"success","data":{"resultType":"vector","result":[{"metric":{}}]}}')
