"""The paper's evaluation protocol: when success is counted (success_timing) and how diverged runs count."""

from __future__ import annotations

import json

import numpy as np
import pytest

from drol.config import TrainConfig, resolve_run
from drol.evaluate import GymBatchedEnv, evaluate, success_score

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
