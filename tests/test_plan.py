"""`drol plan`: jobs, updates, device-hours, evaluation env steps and checkpoint disk of a config, without data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from drol import plan as plan_module
from drol.cli import main
from drol.config import resolve_run
from drol.methods import get_method
from drol.plan import Dims, checkpoint_bytes, evaluations, load_config, plan

REPO = Path(__file__).resolve().parent.parent
TOY_CONFIG = str(REPO / ".test/config/toy.yaml")
PAPER_CONFIG = str(REPO / "workflow/config/paper.yaml")
TINY = {"actor_hidden_dims": (16, 16), "value_hidden_dims": (16, 16)}  # the toy config's networks


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    """Every data directory (the config's ~ paths included) points into an empty tmp dir."""
    for var in ("HOME", "DROL_DATA_DIR", "DROL_D4RL_DIR", "D4RL_DATASET_DIR"):
        monkeypatch.setenv(var, str(tmp_path / "empty"))
    return tmp_path / "empty"


def stub_ogbench_dims(monkeypatch) -> None:
    """OGBench dims without building environments (the fast tests): cube-like 28/5 for every family."""
    monkeypatch.setitem(plan_module.DIMS_BY_SUITE, "ogbench", lambda name: Dims(28, 5, "stub"))


def train_schedule_evaluations(steps: int, eval_interval: int) -> int:
    """Evaluations as drol/train.py's loop schedules them, step by step."""
    return sum(1 for step in range(1, steps + 1) if step == 1 or step % eval_interval == 0 or step == steps)


def test_evaluations_count_as_the_trainer_schedules_them():
    for steps in range(1, 40):
        for eval_interval in range(1, 15):
            assert evaluations(steps, eval_interval) == train_schedule_evaluations(steps, eval_interval), \
                (steps, eval_interval)
    assert evaluations(1_000_000, 100_000) == 11  # the paper's runs: step 1, 100k, ..., 1M


def mlp_params(in_dim: int, hidden: tuple[int, ...], out_dim: int, members: int = 1, layer_norm: bool = False) -> int:
    dims = (in_dim, *hidden, out_dim)
    dense = sum(i * o + o for i, o in zip(dims[:-1], dims[1:]))
    return members * (dense + (2 * sum(hidden) if layer_norm else 0))


def by_hand_checkpoint_bytes(actors: list[int], critic: int, trainable_tensors: int) -> int:
    """float32 parameters (actors, critic, target critic) + Adam's exp_avg and exp_avg_sq + one step per tensor."""
    trainable = sum(actors) + critic
    return 4 * (trainable + critic) + 2 * 4 * trainable + 4 * trainable_tensors


# Toy (obs 2, act 2), 2 x 16 networks, ensemble of 2 critics with LayerNorm: 3 layers -> 6 tensors per MLP,
# plus 2 x 2 LayerNorm tensors in the critic.
TOY_CRITIC = mlp_params(2 + 2, (16, 16), 1, members=2, layer_norm=True)
TOY_DROL_BYTES = by_hand_checkpoint_bytes([mlp_params(2 + 2, (16, 16), 2)], TOY_CRITIC, 6 + 10)
TOY_FQL_BYTES = by_hand_checkpoint_bytes([mlp_params(2 + 2 + 1, (16, 16), 2), mlp_params(2 + 2, (16, 16), 2)],
                                         TOY_CRITIC, 6 + 6 + 10)


def test_toy_config_plan_by_hand(no_data):
    result = plan(load_config(TOY_CONFIG), ms_per_update=5)
    # DROL(16) (K = 16), FQL, and the K sweep's K = 1 (its K = 16 run is DROL(16)'s): 3 jobs of 20 updates.
    assert result["jobs"] == {"training": 3, "dataset": 0, "total": 3, "runs": 3, "seeds_per_job": 1,
                              "largest_block": 1}
    totals = result["totals"]
    assert totals["runs"] == 3 and totals["updates"] == 60 and totals["checkpoints_kept"] == 3
    assert totals["device_hours"] == pytest.approx(60 * 5 / 3.6e6)
    # Evaluations at steps 1, 10, 20, of 20 one-step episodes, per run.
    assert totals["eval_env_steps_at_most"] == 3 * (3 * 20 * 1)
    assert (TOY_DROL_BYTES, TOY_FQL_BYTES) == (18_552, 23_400)
    assert totals["checkpoint_bytes"] == 2 * TOY_DROL_BYTES + TOY_FQL_BYTES
    rows = {row["label"]: row for row in result["by_label"]}
    assert {label: row["runs"] for label, row in rows.items()} == {"FQL": 1, "DROL(16)": 1, "K-sweep": 2}
    assert rows["K-sweep"]["checkpoint_bytes"] == 2 * TOY_DROL_BYTES
    assert result["ms_per_update"]["source"] == "given" and result["dims_unknown"] == {}


@pytest.mark.parametrize(("retention", "per_run"), [("final", 1), ("all", 2), ("none", 0)])
def test_checkpoint_disk_follows_the_retention(no_data, retention, per_run, capsys):
    # 20 updates with a checkpoint every 10: `all` keeps step-10 and step-20.
    result = plan(load_config(TOY_CONFIG), ms_per_update=5, checkpoints=retention)
    totals = result["totals"]
    assert result["checkpoints"] == retention and totals["checkpoints_kept"] == 3 * per_run
    assert totals["checkpoint_bytes"] == per_run * (2 * TOY_DROL_BYTES + TOY_FQL_BYTES)
    assert main(["plan", "--configfile", TOY_CONFIG, "--ms-per-update", "5", "--checkpoints", retention]) == 0
    assert f"checkpoints kept: {3 * per_run} (--checkpoints {retention})" in capsys.readouterr().out


@pytest.mark.parametrize("method", ["drol", "fql"])
def test_checkpoint_bytes_equal_a_real_checkpoints_tensors(method, tiny_batch):
    """The estimate is the byte count of the tensors a checkpoint holds: agent state and Adam state after a step."""
    spec = resolve_run(method, "toy-bandit-v0", 0, {**TINY})
    obs_dim, action_dim = tiny_batch["observations"].shape[1], tiny_batch["actions"].shape[1]
    entry = get_method(method)
    agent = entry.agent_class()(obs_dim, action_dim, spec.agent)
    batch = {k: v.unsqueeze(0) for k, v in tiny_batch.items()}  # a block of one seed
    agent.update(batch, agent.sample_draws(len(tiny_batch["actions"]), [torch.Generator().manual_seed(0)]))
    tensors = [*agent.state_dict().values(),
               *(t for state in agent.optimizer.state_dict()["state"].values() for t in state.values())]
    assert checkpoint_bytes(spec, Dims(obs_dim, action_dim, "test")) == sum(t.numel() * t.element_size()
                                                                           for t in tensors)


def test_cli_text_and_json(no_data, capsys):
    assert main(["plan", "--configfile", TOY_CONFIG, "--ms-per-update", "5"]) == 0
    text = capsys.readouterr().out
    assert "jobs: 3 = 3 training" in text and "ms per update: 5 for one seed (given with --ms-per-update)" in text
    assert "total (distinct runs)" in text and "at most" in text
    assert main(["plan", "--configfile", TOY_CONFIG, "--ms-per-update", "5", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["totals"]["updates"] == 60 and result["totals"]["checkpoint_bytes"] == 60_504


def test_measured_ms_per_update_names_the_device_and_cases(no_data, monkeypatch):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = plan(load_config(TOY_CONFIG), device="cpu", repeats=1, warmup=0)
    finally:
        torch.set_num_threads(threads)
    pricing = result["ms_per_update"]
    assert pricing["source"] == "measured" and pricing["device"].startswith("cpu")
    # One case per method and K (the networks and batch are the same): FQL, DROL K=1, DROL K=16.
    assert sorted(c["case"] for c in pricing["cases"]) == ["drol K=1 2x16 b256", "drol K=16 2x16 b256",
                                                            "fql 2x16 b256"]
    assert sum(c["jobs"] for c in pricing["cases"]) == 3 and {c["seeds"] for c in pricing["cases"]} == {1}
    ms = {c["case"]: c["ms_per_update"] for c in pricing["cases"]}
    assert result["totals"]["device_hours"] == pytest.approx(20 * sum(ms.values()) / 3.6e6)
    assert "bench's obs/action dims" in result["notes"][0]


def test_measured_plan_prices_a_seed_block_by_its_own_update(no_data):
    config = {**load_config(TOY_CONFIG), "seeds": [0, 1, 2], "seeds_per_job": 2}
    config.pop("k_sweep")
    result = plan(config, device="cpu", repeats=1, warmup=0)
    cases = {(c["case"], c["seeds"]): c for c in result["ms_per_update"]["cases"]}
    assert set(cases) == {("drol K=16 2x16 b256", 2), ("drol K=16 2x16 b256", 1), ("fql 2x16 b256", 2),
                          ("fql 2x16 b256", 1)}
    assert result["jobs"]["training"] == 4 and result["jobs"]["runs"] == 6
    hours = sum(20 * c["ms_per_update"] / 3.6e6 for c in cases.values())  # each job: 20 steps of its block
    assert result["totals"]["device_hours"] == pytest.approx(hours)


def test_demo_counts_its_regenerated_dataset(no_data, monkeypatch):
    stub_ogbench_dims(monkeypatch)
    result = plan(load_config("workflow/config/demo.yaml"), ms_per_update=5)  # found beside the Snakefile
    assert result["jobs"] == {"training": 21, "dataset": 1, "total": 22, "runs": 21, "seeds_per_job": 1,
                              "largest_block": 1}
    assert result["regenerated_datasets"] == ["cube-single-play-v0"]
    assert result["generation_env_steps"] == 22 * 1001  # the demo's 20 + 2 -val episodes of 1,001 steps
    assert result["totals"]["updates"] == 13_700


def test_paper_grid_without_data_fast(no_data, monkeypatch):
    """The paper grid's jobs and updates (1,877 jobs, 1.66e9 updates), OGBench dims stubbed."""
    stub_ogbench_dims(monkeypatch)
    result = plan(load_config(PAPER_CONFIG), ms_per_update=5)
    assert not no_data.exists() or not any(no_data.rglob("*"))  # no data was there, none was written
    totals = result["totals"]
    assert result["jobs"] == {"training": 1877, "dataset": 0, "total": 1877, "runs": 1877, "seeds_per_job": 1,
                              "largest_block": 1}
    assert totals["updates"] == 1_660_100_000
    assert totals["device_hours"] == pytest.approx(1_660_100_000 * 5 / 3.6e6)  # 2,306 GPU-hours at 5 ms
    assert totals["runs_without_dims"] == 0
    # All seeds of a configuration in one job: 8-seed blocks, except the K sweep's 3 seeds and the 5 one-seed
    # runtime runs; the runs and updates stay, the device-hours follow the per-seed ratio of block updates.
    batched = plan(load_config(PAPER_CONFIG), ms_per_update=5, seeds_per_job="all", per_seed_ratio=0.25)
    assert batched["jobs"]["training"] == 239 and batched["jobs"]["runs"] == 1877
    assert batched["jobs"]["largest_block"] == 8
    runtime_hours = 100_000 * 5 / 3.6e6  # one-seed jobs: the ratio does not apply
    assert batched["totals"]["device_hours"] == pytest.approx((1_660_100_000 - 100_000) * 5 * 0.25 / 3.6e6
                                                              + runtime_hours)


@pytest.mark.slow
def test_paper_grid_json_without_data_builds_ogbench_envs(tmp_path):
    """The real thing, as a user runs it: `drol plan --configfile paper.yaml --ms-per-update 5 --json`, no data."""
    empty = tmp_path / "empty"
    env = {**os.environ, "HOME": str(empty), "DROL_DATA_DIR": str(empty), "DROL_D4RL_DIR": str(empty)}
    out = subprocess.run([sys.executable, "-m", "drol.cli", "plan", "--configfile", PAPER_CONFIG,
                          "--ms-per-update", "5", "--json"], env=env, capture_output=True, text=True, check=True,
                         cwd=tmp_path)
    result = json.loads(out.stdout)
    totals = result["totals"]
    assert result["jobs"]["training"] == 1877 and totals["updates"] == 1_660_100_000
    assert result["dims_unknown"] == {}
    assert result["dims"]["cube-single-play-singletask-task1-v0"]["obs_dim"] == 28
    assert result["dims"]["antmaze-large-navigate-singletask-task1-v0"]["action_dim"] == 8
    assert result["dims"]["pen-human-v1"]["obs_dim"] == 45
    assert totals["checkpoints_kept"] == 1877 and totals["runs_without_dims"] == 0
    assert 60e9 < totals["checkpoint_bytes"] < 80e9  # ~36 MB (DROL) to ~46 MB (FQL) per 4 x 512 run
    assert totals["eval_env_steps_at_most"] == pytest.approx(7.94e8, rel=0.01)


def test_missing_package_is_named_and_its_disk_skipped(no_data, monkeypatch):
    def no_ogbench(name):
        raise ModuleNotFoundError("No module named 'ogbench'", name="ogbench")

    monkeypatch.setitem(plan_module.DIMS_BY_SUITE, "ogbench", no_ogbench)
    config = {"seeds": [0], "methods": ["FQL"], "tasks": {"cube-single-play-singletask-task1-v0": None,
                                                            "toy-bandit-v0": None}}
    result = plan(config, ms_per_update=5)
    assert result["dims_unknown"] == {"cube-single-play-singletask-task1-v0":
                                      "cannot build its environment: ogbench is not installed"}
    assert result["totals"]["runs_without_dims"] == 1
    assert "ogbench is not installed" in result["notes"][-1]
    assert "runs_without_dims" in plan_module.format_plan(result, "inline")


@pytest.mark.parametrize("args, message", [
    (["--configfile", "no/such.yaml"], "--configfile no/such.yaml: no such file"),
    (["--ms-per-update", "0"], "--ms-per-update 0.0: give a time > 0"),
    (["--repeats", "0"], "--repeats 0"),
])
def test_user_errors_exit_2_with_one_line(args, message, capsys):
    assert main(["plan", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_config_failing_the_schema_or_yaml_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("seeds: [0]\nmethods: ['DROL(8)']\ntasks: {toy-bandit-v0: }\n")
    assert main(["plan", "--configfile", str(bad), "--ms-per-update", "5"]) == 2
    err = capsys.readouterr().err
    assert "'DROL(8)' is not one of" in err and len(err.strip().splitlines()) == 1
    bad.write_text("seeds: [0\n")
    assert main(["plan", "--configfile", str(bad), "--ms-per-update", "5"]) == 2
    err = capsys.readouterr().err
    assert "cannot read it as YAML" in err and len(err.strip().splitlines()) == 1


def test_regenerated_paper_grid_counts_shard_jobs_and_oracle_steps(no_data, monkeypatch):
    stub_ogbench_dims(monkeypatch)
    result = plan(load_config(REPO / "workflow/config/paper-regen.yaml"), ms_per_update=5)
    assert len(result["regenerated_datasets"]) == 5
    assert result["jobs"]["dataset"] == 5 * (10 + 1)  # 10 shards and a merge per dataset
    assert result["generation_env_steps"] == 5 * 1100 * 1001
