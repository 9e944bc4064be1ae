"""`tpdevice bench decode` ends with a complete JSON line; speed is reported, not asserted."""

import json

import pytest

from tpdevice.cli.app import main


def test_decode_bench_reports_the_standard_keys(capsys: pytest.CaptureFixture[str]) -> None:
    main(["bench", "decode", "--frames", "2000"])
    out, err = capsys.readouterr()
    result = json.loads(out.splitlines()[-1])
    assert result["bench"] == "decode"
    assert result["n"] == 2000
    assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]
    assert result["ratio_p50"] > 0
    assert result["frames_per_s"] > 0 and result["messages_per_s"] > 0
    assert "frames/s" in err
