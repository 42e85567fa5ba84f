import json

import pytest
import torch

from drol.cli import main


def test_bench_json_reports_every_case_and_the_ratios(capsys):
    assert main(["bench", "--json", "--repeats", "2"]) == 0
    result = json.loads(capsys.readouterr().out)
    cases = {row["case"]: row for row in result["cases"]}
    assert set(cases) == {"fql", "drol1", "drol4", "drol16", "drol64", "drol16_s8", "drol16_toy", "drol16_toy_s8"}
    assert all(row["update_ms"] > 0 and row["inference_ms_b1"] > 0 for row in cases.values())
    assert all(row["mode"] == row["mode_used"] == "eager" for row in cases.values())  # a CPU has one mode
    assert cases["drol16_s8"]["seeds"] == 8 and cases["drol16"]["seeds"] == 1
    ratios = result["ratios"]
    ms = {name: row["update_ms"] for name, row in cases.items()}
    assert ratios["drol16_over_fql"] == ms["drol16"] / ms["fql"]
    assert ratios["drol64_over_drol16"] == ms["drol64"] / ms["drol16"]
    # Per-seed time of an 8-seed block update over a one-seed update.
    assert ratios["drol16_s8_per_seed_over_drol16"] == ms["drol16_s8"] / 8 / ms["drol16"]
    assert ratios["drol16_toy_s8_per_seed_over_drol16_toy"] == ms["drol16_toy_s8"] / 8 / ms["drol16_toy"]


def test_bench_cuda_modes_on_a_cpu_are_one_line(capsys):
    assert main(["bench", "--cases", "drol16_toy", "--modes", "graph", "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "graph" in err and "CUDA" in err, err


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


def test_gpu_check_without_a_gpu_is_one_line(capsys, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    assert main(["gpu-check", "--out", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "needs a CUDA GPU" in err and not (tmp_path / "r.json").exists()


def test_cli_leaves_sigpipe_as_it_found_it(capsys):
    """`drol tasks | head` ends quietly (SIGPIPE at its default while the command runs), and main() restores
    the handler, so a later pipe to a dead worker in the same process raises instead of killing it."""
    import signal

    before = signal.getsignal(signal.SIGPIPE)
    assert main(["tasks", "--suite", "toy"]) == 0
    assert signal.getsignal(signal.SIGPIPE) == before


def test_options_with_fixed_values_list_them_and_label_means_one_thing():
    """--help shows every fixed set of values; `--label` is a method label wherever it appears (the report's
    printed note is --note)."""
    import argparse

    from drol.cli import build_parser
    from drol.methods import labels, methods
    from drol.reports.figures import FIGURES

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    options = {(name, opt): action for name, sub in commands.items() for action in sub._actions
               for opt in action.option_strings}
    assert list(options["train", "--method"].choices) == list(methods())
    assert list(options["train", "--label"].choices) == list(labels())
    assert list(options["report", "--only"].choices) == list(FIGURES)
    assert list(options["tasks", "--suite"].choices) == ["ogbench", "d4rl", "toy"]
    assert list(options["train", "--checkpoints"].choices) == ["final", "all", "none"]
    assert ("report", "--label") not in options and ("report", "--note") in options
    help_text = commands["train"].format_help()
    assert "{fql,drol}" in help_text and "{final,all,none}" in help_text
