"""The method registry: one declaration per method, read by the CLI, the workflow, the database and the reports.

A plain behaviour-cloning method is defined and registered here, in the test alone: it resolves, trains on
the toy task, and shows in the database views and in Table 4 without any other file changing.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pytest
import torch

from drol.agents.base import AgentConfig, OneStepAgent
from drol.config import RunSpec, resolve_run
from drol.methods import Label, Method, get_label, labels, method_rows, methods, register, unregister
from drol.nets import Actor
from drol.tasks import TOY_TASK, UnknownName

LABEL = "PlainBC"


@dataclass
class BCConfig(AgentConfig):
    bc_weight: float = 1.0  # weight of the BC loss (the only actor term)


class BCAgent(OneStepAgent):
    """a = f(s), trained by regression on the dataset action; the critic is trained but unused."""

    config: BCConfig

    def __init__(self, obs_dim: int, action_dim: int, config: BCConfig, seeds: int = 1):
        super().__init__(obs_dim, action_dim, config, seeds)
        self.actor = Actor(obs_dim, config.actor_hidden_dims, action_dim, seeds)
        self.init_optimizer()

    def sample_latents(self, shape, generators):
        return torch.zeros(len(generators), *shape, 0, device=self.device)

    def sample_draws(self, batch_size, generators):
        return {}

    def policy(self, obs, latents):
        return self.actor(obs).clamp(-1.0, 1.0)

    def next_actions(self, next_obs, draws):
        with torch.no_grad():
            return self.policy(next_obs, None)

    def actor_loss(self, batch, draws, with_metrics=False):
        loss = self.config.bc_weight * (self.actor(batch["observations"]) - batch["actions"]).square().mean((1, 2))
        return loss, {"actor_loss": loss.detach(), "bc_loss": loss.detach()}

    @torch.no_grad()
    def validation_info(self, batch, draws):
        return {"val_bc_loss": self.actor_loss(batch, draws)[1]["bc_loss"]}


def _bc_values(task, source):
    return {"discount": 0.99, "actor_hidden_dims": (32, 32), "value_hidden_dims": (32, 32)}


@pytest.fixture
def plain_bc():
    method = register(Method(name="plainbc", agent=BCAgent, config=BCConfig,
                             labels=(Label(LABEL, _bc_values, "#cc78bc", "D", description="test BC"),)))
    yield method
    unregister(method.name)


def test_project_methods_in_paper_order_with_k_only_for_drol():
    assert list(labels()) == ["FQL", "DROL(16)", "DROL"]
    assert [(m.name, m.has_k, m.sweep_label) for m in methods().values()] == \
        [("fql", False, None), ("drol", True, "DROL(16)")]
    rows = method_rows()
    assert [(r["label"], r["method"], r["ord"], r["is_default"]) for r in rows] == \
        [("FQL", "fql", 0, True), ("DROL(16)", "drol", 1, True), ("DROL", "drol", 2, False)]


def test_label_of_another_method_and_clashing_labels_are_refused():
    with pytest.raises(UnknownName, match="is not a fql label; choose from FQL"):
        get_label("DROL", "fql")
    with pytest.raises(ValueError, match="already belongs to method 'drol'"):
        register(Method(name="other", agent=BCAgent, config=BCConfig, labels=(Label("DROL", _bc_values),)))
    assert "other" not in methods()


def test_resolved_run_carries_every_label_of_its_configuration():
    # cube-single's tuned K is 16: DROL(16) and DROL are one configuration.
    spec = resolve_run("drol", "cube-single-play-singletask-task1-v0", 0, label="DROL")
    assert spec.label == "DROL" and spec.labels == ("DROL(16)", "DROL")
    k4 = resolve_run("drol", "cube-single-play-singletask-task1-v0", 0, {"num_candidates": 4}, tags=("K-sweep",))
    assert k4.labels == ("K-sweep",)
    assert resolve_run("fql", TOY_TASK, 0).labels == ("FQL",)
    assert RunSpec.from_dict(k4.to_dict()) == k4


def test_registered_method_resolves_trains_and_shows_in_views_and_table4(plain_bc, tmp_path):
    from drol.reports.tables import table4
    from drol.results.db import build_database, find_run_dirs
    from drol.train import train

    spec = resolve_run("plainbc", TOY_TASK, 0, {"steps": 30, "eval_interval": 15, "eval_episodes": 20,
                                                "log_interval": 10, "val_interval": 10, "checkpoint_interval": 30})
    assert spec.label == LABEL and spec.labels == (LABEL,) and isinstance(spec.agent, BCConfig)
    assert spec.run_dir(tmp_path).parent.name.startswith("plainbc-")  # no K in the name: the method has none
    assert train(spec, spec.run_dir(tmp_path), device="cpu", progress=False) == "finished"

    db = tmp_path / "results.duckdb"
    build_database(find_run_dirs([tmp_path]), db)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT method, has_k, ord FROM methods WHERE label = ?", [LABEL]).fetchall() == \
            [("plainbc", False, 3)]
        (n_seeds,) = con.execute("SELECT n_seeds FROM task_scores WHERE label = ?", [LABEL]).fetchone()
        assert n_seeds == 1
        assert con.execute("SELECT count(*) FROM table4 WHERE label = ? AND ours_mean IS NOT NULL",
                           [LABEL]).fetchone() == (1,)
    rows = {row.key: row for row in table4(db).rows}
    assert rows[TOY_TASK].ours[LABEL].n_seeds == 1 and rows[TOY_TASK].ours[LABEL].mean is not None
    # The figures draw a method without K (its style from the methods table; no K axis, no routing).
    from drol.reports.figures import runtime_cases, runtime_data, write_figures

    assert {p.stem for p in write_figures(db, tmp_path / "figures")} == \
        {"learning_curves", "performance_profile", "runtime"}
    with duckdb.connect(str(db), read_only=True) as con:
        assert list(runtime_cases(runtime_data(con)[0]).index) == [(LABEL, 0)]
