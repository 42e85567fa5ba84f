"""The paper's evaluation protocol: when success is counted (success_timing) and how diverged runs count."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_results_db import T1, T2, rows, write_run  # the database tests' run writer and tasks

from drol.config import TrainConfig, resolve_run
from drol.evaluate import GymBatchedEnv, evaluate, success_score
from drol.methods import K_SWEEP
from drol.results.db import build_database, find_run_dirs

CUBE_TASK = "cube-single-play-singletask-task1-v0"
LAST_STEP = 3  # evaluation episodes of 3 steps: the cube lands on its goal during the third


class _GoalOnLastStep:
    """A cube-single env whose cube, after step LAST_STEP - 1, falls from 6 cm above its goal at 1.2 m/s:
    it first lies on the goal (within OGBench's 4 cm) after the physics of step LAST_STEP, the last one."""

    def __init__(self, env):
        self.env, self.steps = env, 0

    def reset(self, seed=None):
        self.steps = 0
        return self.env.reset(seed=seed)

    def step(self, action):
        import mujoco

        out = self.env.step(action)
        self.steps += 1
        if self.steps == LAST_STEP - 1:
            sim = self.env.unwrapped
            goal = sim._data.mocap_pos[0]
            sim._data.qpos[14:17] = goal + np.array([0.0, 0.0, 0.06])  # the cube's free joint
            sim._data.qvel[14:20] = 0.0
            sim._data.qvel[16] = -1.2
            mujoco.mj_forward(sim._model, sim._data)
        return out

    def close(self):
        self.env.close()


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("timing,succeeds", [("post", True), ("pre", False)])
def test_goal_first_reached_on_the_last_step_counts_only_post(timing, succeeds):
    pytest.importorskip("ogbench")
    import torch

    from drol.data.ogbench import make_env

    env = GymBatchedEnv([_GoalOnLastStep(make_env(CUBE_TASK, timing))], max_episode_steps=LAST_STEP)
    try:
        [frame] = evaluate(lambda wave: lambda obs: torch.zeros(*obs.shape[:2], 5), env, [0], success_score)
    finally:
        env.close()
    assert frame["length"].tolist() == [LAST_STEP]
    assert frame["success"].tolist() == [succeeds] and frame["score"].tolist() == [100.0 * succeeds]


def test_success_timing_is_a_run_setting_defaulting_to_the_papers():
    assert TrainConfig().success_timing == "post"
    spec = resolve_run("drol", CUBE_TASK, 0, {"success_timing": "pre"})
    assert spec.train.success_timing == "pre" and spec.to_dict()["train"]["success_timing"] == "pre"
    post = resolve_run("drol", CUBE_TASK, 0)
    assert post.run_dir("r") != spec.run_dir("r")  # never the same run directory
    with pytest.raises(ValueError, match="counts success 'post' only"):
        resolve_run("drol", "toy-bandit-v0", 0, {"success_timing": "pre"})
    with pytest.raises(ValueError, match="success_timing"):
        TrainConfig(success_timing="during")
    bad = json.loads(json.dumps(resolve_run("drol", "toy-bandit-v0", 0).to_dict()))
    bad["train"]["success_timing"] = "pre"
    from drol.config import RunSpec

    with pytest.raises(ValueError, match="'pre' is an OGBench setting"):
        RunSpec.from_dict(bad)


def test_diverged_runs_count_as_zero_beside_their_number(tmp_path):
    # The paper's code never stops a run: a diverged seed still gets a final score, almost surely 0.
    write_run(tmp_path / "runs", "fql", T1, 0, final_successes=2)
    diverged = write_run(tmp_path / "runs", "fql", T1, 1, status="diverged", eval_steps=(1, 50))
    write_run(tmp_path / "runs", "fql", T1, 2, status="interrupted", eval_steps=(1, 50))
    write_run(tmp_path / "runs", "fql", T2, 0, final_successes=4)
    write_run(tmp_path / "runs", "drol", T1, 0, "DROL(16)", sets=["num_candidates=4"], status="diverged",
              eval_steps=(1,), tags=[K_SWEEP])  # diverged after its first evaluation; a K-sweep run
    db = tmp_path / "results.duckdb"
    build_database(find_run_dirs([tmp_path / "runs"]), db)
    # Its own record keeps what it scored before diverging (an evaluation at step 50: 100).
    assert rows(db, "SELECT status, final_step, score FROM final_scores WHERE run_id = ?", [diverged["run_id"]]) \
        == [("diverged", 50, 100.0)]
    # Per task: (50 + 0) / 2 over 2 seeds, 1 of them diverged; the interrupted run is not averaged.
    assert rows(db, "SELECT mean, n_seeds, n_diverged, n_unfinished FROM task_scores WHERE task = ? AND label = 'FQL'",
                [T1]) == [(25.0, 2, 1, 1)]
    assert rows(db, "SELECT ours_mean, n_seeds, n_diverged FROM table4 WHERE task = ? AND label = 'FQL'", [T1]) \
        == [(25.0, 2, 1)]
    # Per family, per seed the mean over tasks: seed 0 (50 + 100) / 2 = 75, seed 1 (0) = 0.
    assert rows(db, "SELECT mean, n_seeds, n_diverged FROM family_scores WHERE label = 'FQL'") == [(37.5, 2, 1)]
    assert rows(db, "SELECT ours_mean, n_seeds, n_diverged FROM table1 WHERE family = 'cube-double-singletask' "
                "AND label = 'FQL'") \
        == [(37.5, 2, 1)]
    assert rows(db, "SELECT K, mean, n_seeds, n_diverged FROM k_sensitivity") == [(4, 0.0, 1, 1)]


def test_success_timings_are_never_pooled(tmp_path):
    write_run(tmp_path / "runs", "fql", T1, 0, final_successes=2)
    write_run(tmp_path / "runs", "fql", T1, 1, final_successes=4, sets=["success_timing=pre"])
    db = tmp_path / "results.duckdb"
    build_database(find_run_dirs([tmp_path / "runs"]), db)
    assert rows(db, "SELECT DISTINCT success_timing FROM runs ORDER BY 1") == [("post",), ("pre",)]
    # Two settings, one row each; the paper's timing ('post') is the one shown.
    assert rows(db, "SELECT success_timing, mean, n_seeds, shown FROM task_scores WHERE task = ? ORDER BY 1", [T1]) \
        == [("post", 50.0, 1, True), ("pre", 100.0, 1, False)]
    assert rows(db, "SELECT success_timing, ours_mean FROM table4 WHERE task = ? AND label = 'FQL'", [T1]) \
        == [("post", 50.0)]


def test_runs_record_their_mujoco_version(tmp_path):
    from conftest import write_run_dir

    spec = resolve_run("fql", CUBE_TASK, 0, {"steps": 10})
    write_run_dir(tmp_path / "runs", spec, fingerprint="fp", versions={"python": "3.11", "mujoco": "4.0.0"},
                  evals=[{"step": 10, "episode": 0, "success": True, "return": 1.0, "score": 100.0, "length": 3}],
                  metrics=[(10, "bc_loss", 1.0)],
                  timing={"ms_per_update": 1.0, "wall_time_s": 1.0, "updates_timed": 10})
    db = tmp_path / "r.duckdb"
    build_database(find_run_dirs([tmp_path / "runs"]), db)
    assert rows(db, "SELECT mujoco, success_timing FROM runs") == [("4.0.0", "post")]
