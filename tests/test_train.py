import json
import re

import numpy as np
import pandas as pd
import pytest
import torch

import drol.train
from drol.cli import main
from drol.config import parse_sets, resolve_run
from drol.data import TaskData
from drol.tasks import TOY_TASK
from drol.train import train

FAST = ["actor_hidden_dims=16,16", "value_hidden_dims=16,16", "steps=40", "eval_interval=15", "eval_episodes=30",
        "log_interval=10", "val_interval=20", "checkpoint_interval=1000", "snapshot_states=3"]

DROL_METRICS = {"critic_loss", "q_mean", "q_min", "q_max", "actor_loss", "bc_loss", "q_loss", "actor_q",
                "pairwise_distance", "centroid_divergence", "winner_entropy", "winner_max_prob", "grad_norm",
                "total_loss", "val_bc_loss"}


def fast_spec(method="drol", seed=0, extra=()):
    return resolve_run(method, TOY_TASK, seed, parse_sets(FAST + list(extra), method))


def test_toy_run_writes_every_artifact(tmp_path, capsys):
    assert train(fast_spec(extra=["num_candidates=4"]), tmp_path, progress=False) == "finished"
    # One line per evaluation on stderr (a job's log), with the score, the speed and the time left.
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith(f"drol {TOY_TASK} seed 0:")]
    assert [line.split(",")[0].split()[-1] for line in lines] == ["1/40", "15/40", "30/40", "40/40"]
    assert all(re.search(r"score \d+\.\d, \d+\.\d\d updates/s, ETA \d+:\d\d:\d\d$", line) for line in lines), lines
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["status"] == "finished" and run["step"] == 40 and run["config"]["agent"]["num_candidates"] == 4
    assert run["dataset"]["route"] == "toy" and len(run["dataset"]["fingerprint"]) == 64
    assert {"torch", "numpy", "python"} <= set(run["versions"])
    evals = pd.read_parquet(tmp_path / "evals.parquet")
    # Step 1, every 15 updates, and the last step; 30 episodes each.
    assert sorted(evals.step.unique()) == [1, 15, 30, 40]
    assert len(evals) == 4 * 30 and set(evals.columns) == {"step", "episode", "success", "return", "score", "length"}
    assert (evals.length == 1).all() and evals.score.isin([0.0, 100.0]).all()
    metrics = pd.read_parquet(tmp_path / "train_metrics.parquet")
    assert set(metrics.name) == DROL_METRICS
    assert sorted(metrics[metrics.name == "bc_loss"].step) == [1, 10, 20, 30, 40]
    assert sorted(metrics[metrics.name == "val_bc_loss"].step) == [1, 20, 40]
    snapshots = pd.read_parquet(tmp_path / "snapshots.parquet")
    assert len(snapshots) == 4 * 3 * 4  # evaluations x states x K candidates
    assert snapshots[["a0", "a1"]].abs().max().max() <= 1
    timing = json.loads((tmp_path / "timing.json").read_text())
    assert timing["ms_per_update"] > 0 and timing["ms_per_inference_step"] > 0 and timing["updates_timed"] == 40
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert ckpt["step"] == 40


def _read_run(path):
    ckpt = torch.load(path / "checkpoint.pt", weights_only=False)
    return (ckpt["agent"], pd.read_parquet(path / "train_metrics.parquet"), pd.read_parquet(path / "evals.parquet"),
            pd.read_parquet(path / "snapshots.parquet"))


@pytest.mark.parametrize("method", ["drol", "fql"])
def test_resumed_run_is_bit_identical(tmp_path, method):
    spec = fast_spec(method)
    assert train(spec, tmp_path / "full", progress=False) == "finished"
    assert train(spec, tmp_path / "split", progress=False, should_stop=lambda step: step == 17) == "interrupted"
    assert json.loads((tmp_path / "split" / "run.json").read_text())["status"] == "interrupted"
    # Result files appear only when a run ends: a workflow never takes an interrupted run for a finished one.
    assert not (tmp_path / "split" / "evals.parquet").exists() and (tmp_path / "split" / "checkpoint.pt").exists()
    assert train(spec, tmp_path / "split", progress=False) == "finished"
    full, split = _read_run(tmp_path / "full"), _read_run(tmp_path / "split")
    for name in full[0]:
        assert torch.equal(full[0][name], split[0][name]), name
    for a, b in zip(full[1:], split[1:]):
        pd.testing.assert_frame_equal(a, b)


def test_finished_run_is_not_retrained(tmp_path):
    spec = fast_spec()
    train(spec, tmp_path, progress=False)
    before = (tmp_path / "evals.parquet").stat().st_mtime_ns
    assert train(spec, tmp_path, progress=False) == "finished"
    assert (tmp_path / "evals.parquet").stat().st_mtime_ns == before


def test_nonfinite_loss_ends_run_as_diverged(tmp_path, monkeypatch, capsys):
    real_load = drol.train.load_task_data

    def poisoned(task, device, settings=None, **options):
        data = real_load(task, device, settings, **options)
        data.train.tensors["rewards"][::7] = float("nan")
        return TaskData(data.train, data.val, data.make_env, data.route, data.scorer)

    monkeypatch.setattr(drol.train, "load_task_data", poisoned)
    args = ["train", "--method", "drol", "--task", TOY_TASK, "--out", str(tmp_path), "--no-progress"]
    assert main(args + sum([["--set", s] for s in FAST], [])) == 0
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["status"] == "diverged" and run["diverged_at_step"] == 1
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("args, names", [
    (["--method", "sac", "--task", TOY_TASK], ["'sac'", "fql", "drol", "--help"]),
    (["--method", "drol", "--task", "cube-single-play-v9"], ["cube-single-play-v9", "drol tasks"]),
    (["--method", "drol", "--task", TOY_TASK, "--set", "num_candidate=4"], ["num_candidate", "num_candidates"]),
    (["--method", "fql", "--task", TOY_TASK, "--set", "bc_coef=1"], ["bc_coef", "alpha"]),
    (["--method", "drol", "--task", TOY_TASK, "--set", "steps=many"], ["steps=many", "int"]),
    (["--method", "drol", "--task", TOY_TASK, "--set", "hparams_source=paper"], ["paper", "table3, script"]),
])
def test_cli_errors_name_the_thing_in_one_line(args, names, capsys, tmp_path):
    assert main(["train", *args, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(n in err for n in names), err
    assert not (tmp_path / "x").exists()


def test_run_directory_of_another_config_is_refused(tmp_path, capsys):
    train(fast_spec(), tmp_path, progress=False)
    args = ["train", "--method", "drol", "--task", TOY_TASK, "--out", str(tmp_path), "--no-progress"]
    assert main(args + sum([["--set", s] for s in FAST + ["bc_coef=3"]], [])) == 2
    assert "another configuration" in capsys.readouterr().err


def test_tasks_lists_registry(capsys):
    assert main(["tasks", "--family", "cube-single-play"]) == 0
    out = capsys.readouterr().out
    assert out.count("cube-single-play-singletask-task") == 5 and "10, K=16" in out


def test_toy_routing_spreads_with_k_equal_m_and_collapses_with_k_one():
    """Prop. 4.1 on the toy task: BC-dominated training, K = M covers every mode, K = 1 regresses to the mean."""
    from drol.data import load_task_data
    from drol.data.toy import ToyBandit
    from drol.methods import get_method
    from drol.tasks import get_task

    bandit = ToyBandit()
    data = load_task_data(get_task(TOY_TASK))
    obs = bandit.observe(np.random.default_rng(5).uniform(0, 2 * np.pi, 100))
    results = {}
    for k in (1, bandit.num_modes):
        spec = resolve_run("drol", TOY_TASK, 0, {"num_candidates": k, "bc_coef": 100.0,
                                                 "actor_hidden_dims": (64, 64, 64), "value_hidden_dims": (64, 64, 64)})
        torch.manual_seed(0)
        agent = get_method("drol").agent_class()(2, 2, spec.agent)
        g = [torch.Generator().manual_seed(0)]
        for _ in range(1000):
            agent.update(data.train.sample(256, g), agent.sample_draws(256, g))
        latents = agent.sample_latents((100, 64), g)
        with torch.no_grad():
            actions = agent.policy(torch.from_numpy(obs)[None, :, None].expand(1, -1, 64, -1), latents)[0].numpy()
        dist = np.linalg.norm(actions[:, :, None] - bandit.centres(obs)[:, None], axis=-1)  # state, sample, mode
        nearest = dist.argmin(-1)
        share = np.stack([(nearest == m).mean(1) for m in range(bandit.num_modes)], 1)
        results[k] = {"all_modes": ((share >= 0.1).sum(1) == bandit.num_modes).mean(),
                      "median_dist": np.median(dist.min(-1))}
    assert results[4]["all_modes"] >= 0.9  # every mode owns at least a tenth of the latent ball
    assert results[1]["median_dist"] > 0.45  # collapsed near the modes' mean (the ring's centre, 0.6 away)
    assert results[4]["median_dist"] < 0.7 * results[1]["median_dist"]


def test_version_license_and_citation(capsys):
    from importlib.metadata import version
    from pathlib import Path

    import yaml

    assert main(["--version"]) == 0 and capsys.readouterr().out.strip() == f"drol {version('drol')}"
    repo = Path(__file__).resolve().parents[1]
    citation = yaml.safe_load((repo / "CITATION.cff").read_text())
    paper = citation["preferred-citation"]
    assert citation["version"] == version("drol") and citation["license"] == "MIT"
    assert paper["identifiers"][0]["value"] == "arXiv:2604.22229" and len(paper["authors"]) == 4
    assert (repo / "LICENSE").read_text().startswith("MIT License")
