import json

import pytest

from drol.cli import main


def test_bench_json_reports_every_case_and_both_ratios(capsys):
    assert main(["bench", "--json", "--repeats", "2"]) == 0
    result = json.loads(capsys.readouterr().out)
    cases = {row["case"]: row for row in result["cases"]}
    assert set(cases) == {"fql", "drol1", "drol4", "drol16", "drol64"}
    assert all(row["update_ms"] > 0 and row["inference_ms_b1"] > 0 for row in cases.values())
    ratios = result["ratios"]
    assert ratios["drol16_over_fql"] == cases["drol16"]["update_ms"] / cases["fql"]["update_ms"]
    assert ratios["drol64_over_drol16"] == cases["drol64"]["update_ms"] / cases["drol16"]["update_ms"]


def test_bench_unknown_case_is_named(capsys):
    assert main(["bench", "--cases", "drol16,drol7"]) == 2
    assert "drol7" in capsys.readouterr().err


@pytest.mark.parametrize("repeats", ["0", "-3"])
def test_bench_repeats_below_one_is_one_line(capsys, repeats):
    assert main(["bench", "--repeats", repeats, "--cases", "fql"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("drol bench: error: --repeats"), err
    assert ">= 1" in err and "median" not in err
