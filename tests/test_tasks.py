import pytest

from drol.config import resolve_run
from drol.tasks import get_task, registry


def test_registry_holds_the_papers_tasks_and_the_toy():
    tasks = registry().values()
    assert sum(t.suite == "ogbench" for t in tasks) == 50 and sum(t.suite == "d4rl" for t in tasks) == 18
    assert sum(t.suite == "toy" for t in tasks) == 1
    ogbench_families = {t.family for t in tasks if t.suite == "ogbench"}
    assert len(ogbench_families) == 10
    # One representative task per OGBench family (Table 4's *).
    assert sum(t.representative for t in tasks if t.suite == "ogbench") == 10
    assert all(t.offline_steps == (1_000_000 if t.suite == "ogbench" else 500_000) for t in tasks if t.suite != "toy")
    assert {t.scorer for t in tasks if t.suite == "d4rl"} == {"normalized_return"}


@pytest.mark.parametrize("task, label, source, expected", [
    ("cube-double-play-singletask-task2-v0", "DROL", "table3", {"bc_coef": 3.0, "num_candidates": 64}),
    ("cube-double-play-singletask-task2-v0", "DROL(16)", "table3", {"bc_coef": 3.0, "num_candidates": 16}),
    ("antmaze-giant-navigate-singletask-task1-v0", "DROL", "table3",
     {"num_candidates": 1, "discount": 0.995, "q_agg": "min"}),
    ("antmaze-large-play-v2", "DROL(16)", "table3", {"bc_coef": 0.03, "num_candidates": 16}),
    ("antmaze-large-play-v2", "DROL(16)", "script", {"bc_coef": 0.1, "num_candidates": 16}),
    ("antmaze-umaze-v2", "DROL", "script", {"bc_coef": 0.3, "num_candidates": 2}),
    ("pen-human-v1", "DROL", "table3", {"bc_coef": 1.0, "num_candidates": 4, "q_agg": "min"}),
    ("cube-single-play-singletask-task1-v0", "FQL", "table3", {"alpha": 300.0, "normalize_q_loss": False}),
])
def test_method_hyperparameters_with_provenance(task, label, source, expected):
    values = get_task(task).method_overrides(label, source)
    assert {k: values[k] for k in expected} == expected


def test_hparams_source_reaches_the_agent_config():
    spec = resolve_run("drol", "antmaze-large-play-v2", 0, {"hparams_source": "script"})
    assert spec.agent.bc_coef == 0.1
    assert resolve_run("drol", "antmaze-large-play-v2", 0).agent.bc_coef == 0.03


def test_ogbench_episode_limits_match_the_environments():
    gym = pytest.importorskip("gymnasium")
    pytest.importorskip("ogbench")
    import re

    for task in registry().values():
        if task.suite == "ogbench":
            env_id = re.sub(r"-(play|navigate)-singletask", "-singletask", task.name)
            assert gym.spec(env_id).max_episode_steps == task.episode_limit, task.name
