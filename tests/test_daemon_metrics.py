"""/metrics in the Prometheus text format, parsed back with prometheus-client's own parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tpdevice.daemon.metrics import DaemonMetrics


def test_the_metrics_render_and_parse_back() -> None:
    metrics = DaemonMetrics()
    metrics.sessions_running.set(3)
    metrics.guns_connected.set(5)
    metrics.reconnects.labels(device="gun-1").inc()
    metrics.events.labels(type="step.started").inc(2)
    metrics.event_lag.observe(0.0007)
    families = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    assert families["tpdevice_sessions_running"].samples[0].value == 3
    assert families["tpdevice_guns_connected"].samples[0].value == 5
    reconnects = families["tpdevice_reconnects"].samples[0]
    assert (reconnects.labels, reconnects.value) == ({"device": "gun-1"}, 1)
    lag = {s.name: s.value for s in families["tpdevice_event_journal_lag_seconds"].samples
           if not s.labels.get("le")}  # fmt: skip
    assert lag["tpdevice_event_journal_lag_seconds_count"] == 1


def test_two_daemons_in_one_process_do_not_share_metrics() -> None:
    first, second = DaemonMetrics(), DaemonMetrics()
    first.sessions_running.set(7)
    assert b"tpdevice_sessions_running 0.0" in second.render()
