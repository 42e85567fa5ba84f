import numpy as np
import pandas as pd
import pytest
import torch

from drol.data.toy import ToyBandit, ToyBanditEnv
from drol.evaluate import GymBatchedEnv, ProcessBatchedEnv, batched_env, evaluate, success_score


def toy_policy(bandit, choose):
    """A scripted toy policy: the centre of the mode `choose(obs, best)` picks; (groups, N, 2) observations."""
    def policy(obs: torch.Tensor) -> torch.Tensor:
        o = obs.reshape(-1, 2).numpy()
        modes = choose(o, bandit.best_mode(o))
        return torch.from_numpy(bandit.centres(o)[np.arange(len(o)), modes]).float().reshape(*obs.shape[:2], 2)
    return policy


@pytest.mark.parametrize("choose, success, reward", [
    (lambda o, best: best, 100.0, 1.0),  # the paying mode: always a success
    (lambda o, best: (best + 1) % 4, 0.0, 0.5),  # another supported mode: no success, half reward
])
def test_scripted_toy_policy_scores_its_known_success_rate(choose, success, reward):
    bandit = ToyBandit()
    [frame] = evaluate(lambda wave: toy_policy(bandit, choose), ToyBanditEnv(bandit, 200), seeds=[0],
                       scorer=success_score)
    assert len(frame) == 200 and frame.score.mean() == success and np.allclose(frame["return"], reward)
    assert (frame.length == 1).all()


class CountdownEnv:
    """Episodes of known length (3 + index); success when the last action was positive."""

    def __init__(self, index):
        self.length, self.t = 3 + index, 0

    def reset(self, seed):
        self.t = 0
        return np.array([float(self.length)], np.float32), {}

    def step(self, action):
        self.t += 1
        done = self.t >= self.length
        return np.array([float(self.length - self.t)], np.float32), 1.0, done, False, {"success": bool(action[0] > 0)}

    def close(self):
        pass


def ones_policy(calls=None):
    def policy(obs):
        if calls is not None:
            calls.append(tuple(obs.shape))
        return torch.ones(*obs.shape[:2], 1)
    return policy


def test_batched_evaluation_steps_live_episodes_only_with_one_forward_each():
    env = GymBatchedEnv([CountdownEnv(i) for i in range(4)])
    calls = []
    [frame] = evaluate(lambda wave: ones_policy(calls), env, seeds=[0], scorer=success_score)
    assert frame.length.tolist() == [3, 4, 5, 6] and frame["return"].tolist() == [3.0, 4.0, 5.0, 6.0]
    assert frame.success.all()
    # One forward per environment step over every episode (so a seed's draws do not depend on episode
    # lengths); the longest episode sets the number of steps.
    assert calls == [(1, 4, 1)] * 6


def test_max_episode_steps_truncates():
    env = GymBatchedEnv([CountdownEnv(5)], max_episode_steps=2)
    [frame] = evaluate(lambda wave: lambda obs: -torch.ones(*obs.shape[:2], 1), env, seeds=[0], scorer=success_score)
    assert frame.length.tolist() == [2] and not frame.success.any()


def test_each_group_of_episodes_is_reset_from_its_own_seed():
    """Seed g's episodes in a block of seeds are the episodes of seed g alone."""
    bandit = ToyBandit()
    block = ToyBanditEnv(bandit, 3 * 50).reset([7, 8, 9])
    for g, seed in enumerate([7, 8, 9]):
        np.testing.assert_array_equal(block[g * 50:(g + 1) * 50], ToyBanditEnv(bandit, 50).reset([seed]))


class SeededEnv:
    """Observation = the reset seed, then counts up; episodes last 2 + seed % 3 steps."""

    def reset(self, seed):
        self.seed, self.t = seed, 0
        return np.array([float(seed)], np.float32), {}

    def step(self, action):
        self.t += 1
        return (np.array([self.seed + self.t], np.float32), float(action[0]), self.t >= 2 + self.seed % 3, False,
                {"success": self.t >= 2})

    def close(self):
        pass


def test_worker_processes_give_the_same_episodes_as_one_process():
    frames = {}
    for workers in (1, 2, 3):
        env = batched_env(SeededEnv, 7 * 2, workers=workers)
        assert isinstance(env, GymBatchedEnv if workers == 1 else ProcessBatchedEnv)
        try:
            frames[workers] = evaluate(lambda wave: ones_policy(), env, seeds=[100, 200], scorer=success_score)
        finally:
            env.close()
    for workers in (2, 3):
        for ours, theirs in zip(frames[workers], frames[1]):
            assert ours.equals(theirs)
    assert frames[1][0].length.tolist() == [2 + (100 + i) % 3 for i in range(7)]
    assert frames[1][1].length.tolist() == [2 + (200 + i) % 3 for i in range(7)]


class BrokenEnv(SeededEnv):
    def step(self, action):
        raise ValueError("simulator exploded")


def test_a_failing_worker_environment_is_raised_in_the_trainer_with_its_message():
    env = batched_env(BrokenEnv, 4, workers=2)
    try:
        with pytest.raises(RuntimeError, match="evaluation worker: ValueError: simulator exploded"):
            evaluate(lambda wave: ones_policy(), env, seeds=[0], scorer=success_score)
    finally:
        env.close()


def test_waves_of_environments_run_the_same_episodes_as_one_wave():
    """50 episodes per seed on 10 environments per seed (5 waves) equal 50 environments at once, per seed of
    a 2-seed block; each wave gets a fresh policy (its own RNG stream)."""
    bandit = ToyBandit()
    rng_choice = lambda o, best: (best + (o[:, 0] > 0)) % 4  # noqa: E731 - depends on the state only
    whole = evaluate(lambda wave: toy_policy(bandit, rng_choice), ToyBanditEnv(bandit, 2 * 50), seeds=[3, 4],
                     scorer=success_score)
    waves = []
    waved = evaluate(lambda wave: waves.append(wave) or toy_policy(bandit, rng_choice), ToyBanditEnv(bandit, 2 * 10),
                     seeds=[3, 4], scorer=success_score, episodes=50)
    assert waves == [0, 1, 2, 3, 4]
    for a, b in zip(whole, waved):
        pd.testing.assert_frame_equal(a, b)
    # A last, partial wave: 25 episodes on 10 environments per seed.
    part = evaluate(lambda wave: toy_policy(bandit, rng_choice), ToyBanditEnv(bandit, 2 * 10), seeds=[3, 4],
                    scorer=success_score, episodes=25)
    for a, b in zip(whole, part):
        pd.testing.assert_frame_equal(a.iloc[:25], b)
