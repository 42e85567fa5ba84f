"""Seed blocks: S seeds of one configuration trained as one batched computation equal S single runs.

On a CPU the block computes seed s's slice with the same kernels, in the same order, as a one-seed run
(batched matmuls per seed, per-seed reductions, and foreach Adam, whose elementwise kernels round alike
wherever an element sits), so the tests ask for bit-for-bit equality, not a tolerance.
"""

import json
from dataclasses import replace

import pandas as pd
import pytest
import torch

from baselines.fql import FQLAgent, FQLConfig
from drol.agents.drol import DROLAgent, DROLConfig
from drol.cli import main
from drol.config import parse_sets, resolve_run
from drol.data import Dataset
from drol.devices import claim_gpu
from drol.errors import RunConflict
from drol.step import TrainStep
from drol.tasks import TOY_TASK
from drol.train import train, train_block

SMALL = {"actor_hidden_dims": (64, 64), "value_hidden_dims": (64, 64)}
PAPER = {}  # 4 x 512, the paper's networks
FILES = ("evals.parquet", "train_metrics.parquet", "snapshots.parquet")


def random_dataset(obs_dim=17, action_dim=4, n=2000):
    g = torch.Generator().manual_seed(0)
    return Dataset({"observations": torch.randn(n, obs_dim, generator=g),
                    "next_observations": torch.randn(n, obs_dim, generator=g),
                    "actions": torch.rand(n, action_dim, generator=g) * 2 - 1,
                    "rewards": torch.randn(n, generator=g), "masks": (torch.rand(n, generator=g) > 0.1).float()})


def train_steps(agent_class, config, seeds, data, steps, batch_size=64):
    """`steps` updates of a block of `seeds` (each seed's generator seeded from its seed); the per-update
    metrics (metrics, seeds) and the agent."""
    agent = agent_class.for_seeds(data.obs_dim, data.action_dim, config, seeds)
    step = TrainStep(agent, data, [torch.Generator().manual_seed(1000 + s) for s in seeds], batch_size)
    infos = [torch.stack(list(step(with_metrics=True).values())) for _ in range(steps)]
    return torch.stack(infos), agent


@pytest.mark.parametrize("agent_class, config", [(DROLAgent, DROLConfig(**SMALL)), (FQLAgent, FQLConfig(**SMALL))])
def test_a_block_of_three_seeds_equals_three_single_runs_bit_for_bit(agent_class, config):
    data = random_dataset()
    block, block_agent = train_steps(agent_class, config, [0, 1, 2], data, steps=20)
    assert block.shape[-1] == 3
    for s in range(3):
        single, single_agent = train_steps(agent_class, config, [s], data, steps=20)
        # Every loss and metric at every one of the 20 updates, then every weight and Adam moment.
        assert torch.equal(block[..., s], single[..., 0]), f"seed {s}"
        for ours, alone in zip(block_agent.parameters(), single_agent.parameters()):
            assert torch.equal(ours[s], alone[0])
        ours_state, alone_state = block_agent.seed_states()[s], single_agent.seed_states()[0]
        for key, moments in alone_state["optimizer"]["state"].items():
            assert all(torch.equal(ours_state["optimizer"]["state"][key][k], v) for k, v in moments.items())
    # The seeds really differ (a block of copies would pass the checks above too).
    assert not torch.equal(block[..., 0], block[..., 1])


@pytest.mark.slow
@pytest.mark.parametrize("agent_class, config", [(DROLAgent, DROLConfig()), (FQLAgent, FQLConfig())])
def test_at_paper_size_too(agent_class, config):
    data = random_dataset(28, 5)
    block, _ = train_steps(agent_class, config, [0, 1, 2], data, steps=5, batch_size=256)
    single, _ = train_steps(agent_class, config, [2], data, steps=5, batch_size=256)
    assert torch.equal(block[..., 2], single[..., 0])


def test_seed_states_round_trip_into_a_block_of_another_size():
    """A seed's checkpoint state (a one-seed agent's) loads into any block and back unchanged."""
    data = random_dataset()
    _, block = train_steps(DROLAgent, DROLConfig(**SMALL), [0, 1, 2], data, steps=3)
    states = block.seed_states()
    pair = DROLAgent.for_seeds(data.obs_dim, data.action_dim, DROLConfig(**SMALL), [2, 0])
    pair.load_seed_states([states[2], states[0]])
    for name, tensor in pair.seed_states()[0]["agent"].items():
        assert tensor.shape[0] == 1 and torch.equal(tensor, states[2]["agent"][name])


def fast_spec(seed=0, *sets):
    return resolve_run("drol", TOY_TASK, seed, parse_sets(["steps=40", "eval_interval=20", "log_interval=10",
                                                            "val_interval=20", "checkpoint_interval=10",
                                                            "eval_episodes=50", *sets], "drol"))


def read(run_dir):
    return {name: pd.read_parquet(run_dir / name) for name in FILES}


def assert_same_results(a, b):
    for name, frame in read(a).items():
        pd.testing.assert_frame_equal(frame, read(b)[name], check_exact=True, obj=f"{a.name}/{name}")


def block_dirs(root, seeds):
    return [fast_spec(s).run_dir(root) for s in seeds]


def test_drol_train_of_a_block_writes_each_seeds_run_as_a_single_run_would(tmp_path):
    statuses = train_block([fast_spec(s) for s in (0, 1, 2)], block_dirs(tmp_path / "block", (0, 1, 2)),
                           device="cpu", progress=False)
    assert statuses == ["finished"] * 3
    for seed, run_dir in zip((0, 1, 2), block_dirs(tmp_path / "block", (0, 1, 2))):
        alone = fast_spec(seed).run_dir(tmp_path / "alone")
        assert main(["train", "--spec", json.dumps(fast_spec(seed).to_dict()), "--runs-root", str(tmp_path / "alone"),
                     "--no-progress"]) == 0
        assert_same_results(run_dir, alone)
        run = json.loads((run_dir / "run.json").read_text())
        assert run["block"] == [0, 1, 2] and run["seed"] == seed and run["status"] == "finished"
    manifest = json.loads((run_dir.parent / "seeds-0_1_2.json").read_text())
    assert manifest["seeds"] == [0, 1, 2] and {r["status"] for r in manifest["runs"].values()} == {"finished"}


def test_the_database_keeps_a_blocks_timing_apart_from_one_seed_runs(tmp_path):
    import duckdb

    from drol.results.db import build_database, find_run_dirs

    train_block([fast_spec(s) for s in (0, 1)], block_dirs(tmp_path / "runs", (0, 1)), progress=False)
    train(fast_spec(2), fast_spec(2).run_dir(tmp_path / "runs"), progress=False)
    build_database(find_run_dirs([tmp_path / "runs"]), tmp_path / "r.duckdb")
    with duckdb.connect(str(tmp_path / "r.duckdb"), read_only=True) as con:
        assert sorted(con.execute("SELECT block_seeds FROM timings").fetchall()) == [(1,), (2,), (2,)]
        # One runtime row per block size: a block's ms per update is one update of all its seeds.
        assert sorted(con.execute("SELECT block_seeds, n_runs FROM runtime").fetchall()) == [(1, 1), (2, 2)]


def test_a_resumed_block_equals_an_uninterrupted_one_bit_for_bit(tmp_path):
    specs = [fast_spec(s) for s in (0, 1)]
    assert train_block(specs, block_dirs(tmp_path / "whole", (0, 1)), progress=False) == ["finished"] * 2
    split = block_dirs(tmp_path / "split", (0, 1))
    assert train_block(specs, split, progress=False, should_stop=lambda step: step == 17) == ["interrupted"] * 2
    assert not (split[0].parent / "seeds-0_1.json").exists()  # the job's output appears only when it ends
    assert train_block(specs, split, progress=False) == ["finished"] * 2
    for whole, resumed in zip(block_dirs(tmp_path / "whole", (0, 1)), split):
        assert_same_results(whole, resumed)
        a, b = (torch.load(d / "checkpoint.pt", weights_only=False) for d in (whole, resumed))
        assert all(torch.equal(a["agent"][k], b["agent"][k]) for k in a["agent"])


def test_one_diverging_seed_ends_alone_and_the_others_go_on_unchanged(tmp_path, monkeypatch):
    specs = [fast_spec(s) for s in (0, 1, 2)]
    clean = block_dirs(tmp_path / "clean", (0, 1, 2))
    train_block(specs, clean, progress=False)
    real_call = TrainStep.__call__
    calls = {"n": 0}

    def poisoned(self, with_metrics=False):
        info = real_call(self, with_metrics)
        calls["n"] += 1
        if calls["n"] == 15:  # seed 1's first actor layer turns non-finite after update 15
            with torch.no_grad():
                self.agent.actor.net.weights[0][1].fill_(float("nan"))
        return info

    monkeypatch.setattr(TrainStep, "__call__", poisoned)
    poisoned_dirs = block_dirs(tmp_path / "poisoned", (0, 1, 2))
    assert train_block(specs, poisoned_dirs, progress=False) == ["finished", "diverged", "finished"]
    run = json.loads((poisoned_dirs[1] / "run.json").read_text())
    assert run["status"] == "diverged" and run["diverged_at_step"] == 20  # the first log step after the poison
    assert (poisoned_dirs[1] / "evals.parquet").exists()
    for s in (0, 2):  # seeds 0 and 2 continued in a block of two, exactly as before
        assert_same_results(poisoned_dirs[s], clean[s])
    manifest = json.loads((poisoned_dirs[0].parent / "seeds-0_1_2.json").read_text())
    assert manifest["runs"]["1"]["status"] == "diverged"


def test_a_block_rerun_after_its_manifest_is_deleted_trains_again_but_a_regrouped_block_does_not(tmp_path, capsys):
    specs = [fast_spec(s) for s in (0, 1)]
    dirs = block_dirs(tmp_path, (0, 1))
    train_block(specs, dirs, progress=False)
    manifest = dirs[0].parent / "seeds-0_1.json"
    before = read(dirs[0])
    # Snakemake deleted the job's output to rerun it (--forcerun): every seed trains again, to the same numbers.
    manifest.unlink()
    capsys.readouterr()
    assert train_block(specs, dirs, progress=False) == ["finished"] * 2
    assert capsys.readouterr().err.count("training again from step 0") == 2
    pd.testing.assert_frame_equal(read(dirs[0])["evals.parquet"], before["evals.parquet"])
    # Seed 1 alone (a new block): its run is complete, so nothing trains; run.json records the new block.
    stamp = (dirs[1] / "evals.parquet").stat().st_mtime_ns
    assert train_block(specs[1:], dirs[1:], progress=False) == ["finished"]
    assert (dirs[1] / "evals.parquet").stat().st_mtime_ns == stamp
    assert json.loads((dirs[1] / "run.json").read_text())["block"] == [1]
    assert (dirs[1].parent / "seeds-1.json").exists()


def test_a_block_refuses_specs_of_different_configurations(tmp_path):
    with pytest.raises(ValueError, match="seed and labels only"):
        train_block([fast_spec(0), fast_spec(1, "bc_coef=2")], block_dirs(tmp_path, (0, 1)), progress=False)
    with pytest.raises(ValueError, match="each seed once"):
        train_block([fast_spec(0), replace(fast_spec(0), labels=())], block_dirs(tmp_path, (0, 0)), progress=False)


def test_cli_trains_a_block_from_several_seeds_and_names_bad_combinations(tmp_path, capsys):
    args = ["train", "--method", "drol", "--task", TOY_TASK, "--no-progress", "--set", "steps=20",
            "--set", "eval_interval=20", "--set", "eval_episodes=20", "--set", "actor_hidden_dims=16",
            "--set", "value_hidden_dims=16"]
    assert main([*args, "--seed", "3", "1", "--runs-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("finished: ") == 2 and out.index("seed3") < out.index("seed1")  # the order given
    assert len(list(tmp_path.rglob("seeds-1_3.json"))) == 1
    assert main([*args, "--seed", "0", "1", "--out", str(tmp_path / "x")]) == 2
    assert "--runs-root" in capsys.readouterr().err
    assert main([*args, "--seed", "2", "2"]) == 2
    assert "distinct" in capsys.readouterr().err
    assert main([*args, "--update-mode", "graph", "--device", "cpu", "--out", str(tmp_path / "y")]) == 2
    assert "CUDA" in capsys.readouterr().err


def test_cuda_update_modes_are_refused_on_a_cpu():
    agent = DROLAgent.for_seeds(3, 2, DROLConfig(**SMALL), [0])
    with pytest.raises(ValueError, match="needs a CUDA device"):
        TrainStep(agent, random_dataset(3, 2), [torch.Generator()], 8, mode="graph")


def test_concurrent_processes_claim_different_gpus(tmp_path):
    assert claim_gpu(3, tmp_path) == 0
    assert claim_gpu(3, tmp_path) == 1  # a second claim (another job) gets the next free GPU
    assert claim_gpu(3, tmp_path) == 2
    with pytest.raises(RunConflict, match="all 3 GPUs are held"):
        claim_gpu(3, tmp_path, wait=False)
    assert json.loads((tmp_path / "cuda0.lock").read_text())["pid"] > 0  # who holds it, for the message
