import numpy as np
import pytest
import torch

from drol.data.toy import ToyBandit, ToyBanditEnv
from drol.evaluate import GymBatchedEnv, evaluate, success_score


def toy_policy(bandit, choose):
    """A scripted toy policy: the centre of the mode `choose(obs, best)` picks."""
    def policy(obs: torch.Tensor) -> torch.Tensor:
        o = obs.numpy()
        modes = choose(o, bandit.best_mode(o))
        return torch.from_numpy(bandit.centres(o)[np.arange(len(o)), modes]).float()
    return policy


@pytest.mark.parametrize("choose, success, reward", [
    (lambda o, best: best, 100.0, 1.0),  # the paying mode: always a success
    (lambda o, best: (best + 1) % 4, 0.0, 0.5),  # another supported mode: no success, half reward
])
def test_scripted_toy_policy_scores_its_known_success_rate(choose, success, reward):
    bandit = ToyBandit()
    frame = evaluate(toy_policy(bandit, choose), ToyBanditEnv(bandit, 200), seed=0, scorer=success_score)
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


def test_batched_evaluation_steps_live_episodes_only_with_one_forward_each():
    env = GymBatchedEnv([CountdownEnv(i) for i in range(4)])
    batch_sizes = []

    def policy(obs):
        batch_sizes.append(len(obs))
        return torch.ones(len(obs), 1)

    frame = evaluate(policy, env, seed=0, scorer=success_score)
    assert frame.length.tolist() == [3, 4, 5, 6] and frame["return"].tolist() == [3.0, 4.0, 5.0, 6.0]
    assert frame.success.all()
    # One forward per environment step, over the episodes still running.
    assert batch_sizes == [4, 4, 4, 3, 2, 1]


def test_max_episode_steps_truncates():
    env = GymBatchedEnv([CountdownEnv(5)], max_episode_steps=2)
    frame = evaluate(lambda obs: -torch.ones(len(obs), 1), env, seed=0, scorer=success_score)
    assert frame.length.tolist() == [2] and not frame.success.any()
