"""results.duckdb: tables, label derivation, the score rules of the views, determinism, CLI.

Most tests build the database from FABRICATED run directories (run.json from the real resolver, parquet
files with known numbers), so every aggregate can be checked against a computation by hand.
"""

import argparse
import io
import json
import os
import statistics
import struct
import subprocess
import sys
from importlib import resources
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import write_run_dir

from drol.config import parse_sets, resolve_run
from drol.methods import K_SWEEP
from drol.results.catalog import METRICS
from drol.results.cli import add_commands
from drol.results.db import (
    PAPER_FAMILY,
    TABLES,
    ResultsError,
    build_database,
    find_run_dirs,
)
from drol.results.query import query
from drol.tasks import TOY_TASK, registry

T1 = "cube-double-play-singletask-task1-v0"  # family cube-double-play: DROL(16) = (3.0, K=16), DROL = (3.0, K=64)
T2 = "cube-double-play-singletask-task2-v0"
SINGLE = "cube-single-play-singletask-task1-v0"  # family cube-single-play: DROL's tuned K is 16
STEPS = 100
EVAL_STEPS = (1, 50, 100)
EPISODES = 4  # scores per evaluation are multiples of 100 / 4 = 25
# Successful episodes (of 4) at the LAST evaluation, per (task, label) and seed 0, 1, 2.
FINAL_SUCCESSES = {
    (T1, "DROL(16)"): [1, 2, 3],
    (T1, "DROL"): [4, 4, 2],
    (T2, "DROL(16)"): [0, 1, 1],
    (T2, "DROL"): [3, 2, 4],
}
EARLIER_SUCCESSES = {1: 0, 50: 4}  # every run: none at step 1, all at step 50 (so "best" != "last")
METRIC_NAMES = ("bc_loss", "critic_loss")
SNAPSHOT_STATES, SNAPSHOT_CANDIDATES = 2, 3


def write_run(root: Path, method: str, task: str, seed: int, label: str | None = None, sets=(),
              final_successes: int | None = None, status: str = "finished", eval_steps=EVAL_STEPS,
              ms_per_update: float = 10.0, tags=()) -> dict:
    """A run directory as `drol train` writes it, with known evaluation numbers. Returns its run.json."""
    spec = resolve_run(method, task, seed, parse_sets([f"steps={STEPS}", *sets], method), label, tags=tags)
    last = eval_steps[-1] if eval_steps else 0
    rows, metrics, snaps = [], [], []
    for step in eval_steps:
        wins = final_successes if step == STEPS else EARLIER_SUCCESSES[step]
        for episode in range(EPISODES):
            success = episode < wins
            rows.append({"step": step, "episode": episode, "success": success, "return": float(success),
                         "score": 100.0 * success, "length": 10 + episode})
        metrics += [(step, name, step + i / 10) for i, name in enumerate(METRIC_NAMES)]
        snaps += [{"step": step, "state_id": s, "candidate": k, "a0": 0.1 * k, "a1": -0.1 * s}
                  for s in range(SNAPSHOT_STATES) for k in range(SNAPSHOT_CANDIDATES)]
    timing = {"device": "cpu (test)", "ms_per_update": ms_per_update,
              "ms_per_inference_step": 0.5 if status == "finished" else None, "eval_env_steps_per_s": 100.0,
              "wall_time_s": 12.5, "updates_timed": last}
    return write_run_dir(root, spec, fingerprint=f"fingerprint-of-{task}", status=status, step=last, evals=rows,
                         metrics=metrics, snapshots=snaps, timing=timing, versions={"python": "3.11", "torch": "x"},
                         snapshot_states=[[0.1 * i, 0.2, 0.3] for i in range(SNAPSHOT_STATES)])


@pytest.fixture(scope="module")
def fabricated(tmp_path_factory):
    """19 run directories: 2 tasks x 2 labels x 3 seeds, plus runs that test labels and statuses."""
    root = tmp_path_factory.mktemp("runs")
    runs = {}
    for (task, label), successes in FINAL_SUCCESSES.items():
        for seed, wins in enumerate(successes):
            ms = {0: 10.0, 1: 20.0, 2: 60.0}[seed]
            runs[task, label, seed] = write_run(root, "drol", task, seed, label, final_successes=wins, ms_per_update=ms,
                                                tags=[K_SWEEP])
    runs["single"] = write_run(root, "drol", SINGLE, 0, "DROL(16)", final_successes=3, tags=[K_SWEEP])
    for seed in (0, 1):
        runs["k4", seed] = write_run(root, "drol", T1, seed, sets=["num_candidates=4"], final_successes=2 + seed,
                                     tags=[K_SWEEP])
    runs["unlabelled"] = write_run(root, "drol", T1, 0, sets=["bc_coef=1"], final_successes=4)
    runs["fql"] = write_run(root, "fql", T1, 0, final_successes=1)
    runs["running"] = write_run(root, "fql", T2, 1, status="running", eval_steps=())
    runs["interrupted"] = write_run(root, "drol", T2, 3, "DROL(16)", status="interrupted", eval_steps=(1, 50),
                                    tags=[K_SWEEP])
    db = root.parent / f"{root.name}.duckdb"
    counts = build_database(find_run_dirs([root]), db)
    return {"root": root, "db": db, "runs": runs, "counts": counts}


def rows(db: Path, sql: str, params=()):
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def frame(db: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchdf()


def registry_csv(name: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(resources.files("drol.registry").joinpath(name).read_text()))


# Tables
def test_row_counts_per_table(fabricated):
    counts = fabricated["counts"]
    n_runs = len(fabricated["runs"])
    ended = n_runs - 2  # every run but the running and the interrupted one has 3 evaluations
    evals = ended * len(EVAL_STEPS) + 2  # the interrupted one has 2, the running one none
    assert counts == {
        "tasks": len(registry()), "hparams": len(registry_csv("hparams.csv")) + 8 + 3,  # + script rows + toy
        "methods": 3,  # FQL, DROL(16), DROL
        "runs": 19, "run_labels": 12 * 2 + 3 + 2 + 0 + 1 + 1 + 2,  # see test_labels_are_read_from_run_json
        "evaluations": evals * EPISODES, "train_metrics": evals * len(METRIC_NAMES),
        "timings": n_runs - 1, "snapshots": evals * SNAPSHOT_STATES * SNAPSHOT_CANDIDATES,
        "snapshot_states": n_runs * SNAPSHOT_STATES,
        "paper_scores": len(registry_csv("paper_table4.csv")),
        "paper_family_scores": len(registry_csv("paper_table1.csv")),
        "d4rl_ref_scores": len(registry_csv("d4rl_ref_scores.csv")),
        "metrics": len(METRICS),
    }
    assert set(counts) == set(TABLES)
    for table, n in counts.items():
        assert rows(fabricated["db"], f"SELECT count(*) FROM {table}") == [(n,)]


def test_runs_table_holds_run_json_fields(fabricated):
    db, run = fabricated["db"], fabricated["runs"][T1, "DROL", 2]
    row = frame(db, f"SELECT * FROM runs WHERE run_id = '{run['run_id']}'").iloc[0]
    assert (row.method, row.task, row.seed, row.K, row.status, row.steps) == ("drol", T1, 2, 64, "finished", STEPS)
    assert row.family == "cube-double-play" and row.data_route == "ogbench" and row.hparams_source == "table3"
    assert json.loads(row.config) == json.loads(json.dumps(run["config"])) and json.loads(row.versions)["torch"] == "x"
    assert row.wall_time_s == 12.5 and row.dataset_fingerprint == f"fingerprint-of-{T1}"
    assert row.run_dir.startswith(f"{fabricated['root'].name}/ogbench/{T1}/drol-K64-")
    assert row.run_dir.endswith("/seed2")
    fql = fabricated["runs"]["fql"]["run_id"]
    assert rows(db, "SELECT K FROM runs WHERE run_id = ?", [fql]) == [(None,)]
    running = fabricated["runs"]["running"]["run_id"]
    assert rows(db, "SELECT status, wall_time_s FROM runs WHERE run_id = ?", [running]) == [("running", None)]


def test_snapshots_hold_actions_as_lists(fabricated):
    run_id = fabricated["runs"][T1, "DROL", 0]["run_id"]
    got = rows(fabricated["db"], "SELECT step, state_id, candidate, action FROM snapshots WHERE run_id = ? "
                                 "AND step = 50 AND state_id = 1 AND candidate = 2", [run_id])
    assert got == [(50, 1, 2, [pytest.approx(0.2), pytest.approx(-0.1)])]
    assert rows(fabricated["db"], "SELECT observation FROM snapshot_states WHERE run_id = ? AND state_id = 1",
                [run_id]) == [([0.1, 0.2, 0.3],)]


def test_reference_tables_and_family_mapping(fabricated):
    db = fabricated["db"]
    paper_families = set(registry_csv("paper_table1.csv")["family"])
    mapped = {f for (f,) in rows(db, "SELECT DISTINCT paper_family FROM tasks WHERE paper_family IS NOT NULL")}
    assert mapped == paper_families == set(PAPER_FAMILY.values())
    # The paper's family sizes equal the number of our tasks mapped onto them (adroit: 4 of our families, 12 tasks).
    sizes = dict(rows(db, "SELECT paper_family, count(*) FROM tasks WHERE paper_family IS NOT NULL GROUP BY ALL"))
    paper_sizes = dict(rows(db, "SELECT DISTINCT family, n_tasks FROM paper_family_scores"))
    assert sizes == paper_sizes and sizes["adroit"] == 12
    assert rows(db, "SELECT paper_family FROM tasks WHERE name = ?", [TOY_TASK]) == [(None,)]
    # Blank cells of the paper's tables are NULL, not zero or NaN.
    blank = registry_csv("paper_table4.csv")["mean"].isna().sum()
    assert blank > 0 and rows(db, "SELECT count(*) FROM paper_scores WHERE mean IS NULL") == [(blank,)]
    assert rows(db, "SELECT count(*) FROM paper_scores WHERE isnan(mean)") == [(0,)]
    assert rows(db, "SELECT mark FROM paper_scores WHERE task = ? AND label = 'DROL(16)'", [T1]) == [(None,)]
    script = rows(db, "SELECT task, label, coef, K FROM hparams WHERE source = 'script' ORDER BY task, label")
    assert ("antmaze-large-play-v2", "DROL(16)", 0.1, 16) in script and len(script) == 8


# Labels
def test_labels_are_read_from_run_json(fabricated):
    db, runs = fabricated["db"], fabricated["runs"]

    def labels(key):
        return [label for (label,) in rows(db, "SELECT label FROM run_labels WHERE run_id = ? ORDER BY label",
                                           [runs[key]["run_id"]])]

    for key, run in runs.items():
        assert labels(key) == sorted(run["labels"]), key
    assert labels((T1, "DROL(16)", 0)) == ["DROL(16)", "K-sweep"]
    assert labels((T1, "DROL", 0)) == ["DROL", "K-sweep"]
    assert labels("single") == ["DROL", "DROL(16)", "K-sweep"]  # cube-single's tuned K is 16
    assert labels(("k4", 0)) == ["K-sweep"]  # K = 4 overrides DROL(16)'s K: a sweep variant, not DROL(16)
    assert labels("unlabelled") == []
    assert labels("fql") == ["FQL"]
    assert labels("running") == ["FQL"] and labels("interrupted") == ["DROL(16)", "K-sweep"]


def test_resolved_labels_follow_hparams_source_and_ignore_training_length():
    def labels(method, task, label=None, sets=()):
        return resolve_run(method, task, 0, parse_sets(list(sets), method), label).labels

    # antmaze-large-play-v2: Table 3 gives DROL(16) and DROL (0.03, 16); the released script DROL(16) (0.1, 16).
    assert labels("drol", "antmaze-large-play-v2") == ("DROL(16)", "DROL")
    assert labels("drol", "antmaze-large-play-v2", sets=["hparams_source=script"]) == ("DROL(16)",)
    assert labels("fql", T1, sets=["steps=7"]) == ("FQL",)
    assert labels("fql", T1, sets=["alpha=1"]) == ()  # alpha is what FQL sets per task
    assert labels("drol", T1, sets=["actor_hidden_dims=16,16"]) == ("DROL(16)",)  # a width, not a label value


def test_build_db_does_not_import_torch(fabricated, tmp_path):
    code = ("import sys; from drol.results.cli import add_commands; from drol.cli import main; "
            f"rc = main(['build-db', {str(fabricated['root'])!r}, '--out', {str(tmp_path / 'x.duckdb')!r}]); "
            "assert rc == 0, rc; assert 'torch' not in sys.modules, 'torch imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# Score rules
def final_score(wins: int) -> float:
    return 100.0 * wins / EPISODES


def test_final_score_is_the_last_evaluation(fabricated):
    db, runs = fabricated["db"], fabricated["runs"]
    for (task, label), successes in FINAL_SUCCESSES.items():
        for seed, wins in enumerate(successes):
            got = rows(db, "SELECT final_step, score, n_episodes FROM final_scores WHERE run_id = ?",
                       [runs[task, label, seed]["run_id"]])
            assert got == [(STEPS, final_score(wins), EPISODES)]
    # An interrupted run's final score is its last evaluation so far (step 50: all 4 episodes succeed) ...
    assert rows(db, "SELECT final_step, score, status FROM final_scores WHERE run_id = ?",
                [runs["interrupted"]["run_id"]]) == [(50, 100.0, "interrupted")]
    # ... and a run without evaluations has no final score.
    assert rows(db, "SELECT count(*) FROM final_scores WHERE run_id = ?", [runs["running"]["run_id"]]) == [(0,)]


def test_task_scores_are_mean_and_sample_std_over_seeds(fabricated):
    db = fabricated["db"]
    for (task, label), successes in FINAL_SUCCESSES.items():
        scores = [final_score(w) for w in successes]
        (mean, std, n, seeds, unfinished), = rows(
            db, "SELECT mean, std, n_seeds, seeds, n_unfinished FROM task_scores WHERE task = ? AND label = ?",
            [task, label])
        assert mean == pytest.approx(statistics.mean(scores)) and std == pytest.approx(statistics.stdev(scores))
        assert (n, seeds) == (3, [0, 1, 2])
        assert unfinished == (1 if (task, label) == (T2, "DROL(16)") else 0)  # the interrupted seed 3
    # The unfinished FQL run on T2 is counted, never averaged: its row has no mean (NULL, not zero).
    assert rows(db, "SELECT mean, n_seeds, n_unfinished FROM task_scores WHERE task = ? AND label = 'FQL'", [T2]) \
        == [(None, 0, 1)]
    # One seed: mean is its score, std is NULL.
    assert rows(db, "SELECT mean, std FROM task_scores WHERE task = ? AND label = 'FQL'", [T1]) == [(25.0, None)]
    assert rows(db, "SELECT count(*) FROM task_scores WHERE label = 'K-sweep'") == [(0,)]


def hand_family(tasks, label):
    per_seed = [statistics.mean(final_score(FINAL_SUCCESSES[t, label][seed]) for t in tasks) for seed in range(3)]
    return statistics.mean(per_seed), statistics.stdev(per_seed)


def test_family_scores_average_tasks_per_seed_then_seeds(fabricated):
    db = fabricated["db"]
    for label in ("DROL(16)", "DROL"):
        mean, std = hand_family([T1, T2], label)
        got = rows(db, "SELECT mean, std, n_seeds, n_tasks_min, n_tasks_max, family_tasks FROM family_scores "
                       "WHERE family = 'cube-double-play' AND label = ?", [label])
        assert got == [(pytest.approx(mean), pytest.approx(std), 3, 2, 2, 5)]
    # Not the std over all task-seed scores: the per-seed averaging matters for this data.
    flat = [final_score(w) for t in (T1, T2) for w in FINAL_SUCCESSES[t, "DROL(16)"]]
    assert hand_family([T1, T2], "DROL(16)")[1] != pytest.approx(statistics.stdev(flat))


def test_table4_puts_ours_beside_the_paper(fabricated):
    db = fabricated["db"]
    paper = registry_csv("paper_table4.csv").set_index(["task", "method"])
    ours = statistics.mean(final_score(w) for w in FINAL_SUCCESSES[T1, "DROL(16)"])
    got = frame(db, f"SELECT * FROM table4 WHERE task = '{T1}' AND label = 'DROL(16)'")
    assert len(got) == 1
    row = got.iloc[0]
    assert row.paper_mean == paper.loc[(T1, "DROL(16)"), "mean"] and row.paper_std == paper.loc[(T1, "DROL(16)"), "std"]
    assert row.ours_mean == pytest.approx(ours)
    assert row.delta == pytest.approx(ours - paper.loc[(T1, "DROL(16)"), "mean"])
    # Every paper row is there once per setting we ran; rows we did not run have NULL ours, never zero.
    assert rows(db, "SELECT count(*) FROM table4 WHERE ours_mean IS NULL AND delta IS NULL") == [(len(paper) - 7,)]
    assert rows(db, "SELECT ours_mean, n_seeds, paper_mean FROM table4 WHERE task = ? AND label = 'BC'", [T1]) \
        == [(None, None, paper.loc[(T1, "BC"), "mean"])]
    assert rows(db, "SELECT count(*) FROM table4 WHERE ours_mean = 0") == [(0,)]


def test_table1_maps_families_onto_the_papers(fabricated):
    db = fabricated["db"]
    paper = registry_csv("paper_table1.csv").set_index(["family", "method"])
    mean, std = hand_family([T1, T2], "DROL")
    got = frame(db, "SELECT * FROM table1 WHERE family = 'cube-double-singletask' AND label = 'DROL'").iloc[0]
    assert got.ours_mean == pytest.approx(mean) and got.ours_std == pytest.approx(std)
    assert got.paper_mean == paper.loc[("cube-double-singletask", "DROL"), "mean"]
    assert got.delta == pytest.approx(mean - got.paper_mean)
    assert (got.n_seeds, got.n_tasks_min, got.paper_n_tasks) == (3, 2, 5)
    assert rows(db, "SELECT count(*) FROM table1") == [(len(paper),)]
    assert rows(db, "SELECT ours_mean FROM table1 WHERE family = 'adroit' AND label = 'DROL'") == [(None,)]


def test_k_sensitivity_runtime_and_learning_curves(fabricated):
    db, runs = fabricated["db"], fabricated["runs"]
    k = {K: (mean, n) for K, mean, n in rows(db, "SELECT K, mean, n_seeds FROM k_sensitivity WHERE task = ?", [T1])}
    assert k == {4: (pytest.approx(statistics.mean([50.0, 75.0])), 2),
                 16: (pytest.approx(statistics.mean(final_score(w) for w in FINAL_SUCCESSES[T1, "DROL(16)"])), 3),
                 64: (pytest.approx(statistics.mean(final_score(w) for w in FINAL_SUCCESSES[T1, "DROL"])), 3)}
    # K=64: the DROL runs at 10, 20, 60 ms per update on each task -> median 20.
    runtime = dict(rows(db, "SELECT K, ms_per_update FROM runtime WHERE method = 'drol'"))
    assert runtime[64] == 20.0 and runtime[4] == 10.0
    curve = rows(db, "SELECT step, score FROM learning_curves WHERE run_id = ? AND label = 'DROL' ORDER BY step",
                 [runs[T1, "DROL", 2]["run_id"]])
    assert curve == [(1, 0.0), (50, 100.0), (100, 50.0)]


# Building
def all_content(db: Path) -> dict:
    """Tables exactly; views (computed when queried, with multi-threaded float sums) to 9 decimals."""
    kinds = rows(db, "SELECT table_name, table_type FROM information_schema.tables ORDER BY table_name")

    def rounded(row):
        return tuple(round(v, 9) if isinstance(v, float) else v for v in row)

    return {n: rows(db, f'SELECT * FROM "{n}"') if kind == "BASE TABLE" else
            [rounded(r) for r in rows(db, f'SELECT * FROM "{n}"')] for n, kind in kinds}


def test_building_twice_gives_identical_content(fabricated, tmp_path):
    again = fabricated["db"].parent / "again.duckdb"
    build_database(list(reversed(find_run_dirs([fabricated["root"]]))), again)
    first, second = all_content(fabricated["db"]), all_content(again)
    assert list(first) == list(second) and len(first) == len(TABLES) + 13  # tables and views
    for name in first:
        assert first[name] == second[name], name


def test_database_is_written_atomically_in_an_old_storage_format(fabricated, tmp_path):
    out = tmp_path / "sub" / "results.duckdb"
    build_database(find_run_dirs([fabricated["root"]]), out)
    # No temporary file or WAL left; the build's lock file stays (a lock is released, never deleted).
    assert sorted(p.name for p in out.parent.iterdir()) == [".results.duckdb.lock", "results.duckdb"]
    header = out.read_bytes()[:20]
    assert header[8:12] == b"DUCK" and struct.unpack("<Q", header[12:20])[0] == 64  # DuckDB 0.10 / 1.x storage
    # A failed build leaves the existing database untouched and no temporary file.
    bad = tmp_path / "bad" / "broken"
    bad.mkdir(parents=True)
    (bad / "run.json").write_text("{not json")
    before = out.read_bytes()
    with pytest.raises(ResultsError, match="broken/run.json"):
        build_database([bad], out)
    assert out.read_bytes() == before
    assert sorted(p.name for p in out.parent.iterdir()) == [".results.duckdb.lock", "results.duckdb"]


def test_database_opens_read_only(fabricated):
    with duckdb.connect(str(fabricated["db"]), read_only=True) as con:
        with pytest.raises(duckdb.Error, match="read-only"):
            con.execute("DELETE FROM runs")
    with pytest.raises(ResultsError, match="read-only"):
        query(fabricated["db"], "DROP TABLE runs")
    assert rows(fabricated["db"], "SELECT count(*) FROM runs") == [(19,)]


def test_duplicate_runs_and_broken_directories_are_refused(tmp_path):
    run = write_run(tmp_path / "a", "fql", T1, 0, final_successes=1)
    write_run(tmp_path / "b", "fql", T1, 0, final_successes=1)
    with pytest.raises(ResultsError, match=f"run {run['run_id']} is in two directories"):
        build_database(find_run_dirs([tmp_path]), tmp_path / "x.duckdb")
    evals = next((tmp_path / "b").rglob("evals.parquet"))
    pd.read_parquet(evals).drop(columns="score").to_parquet(evals)
    with pytest.raises(ResultsError, match="evals.parquet: missing column.s. score"):
        build_database(find_run_dirs([tmp_path / "b"]), tmp_path / "x.duckdb")
    evals.unlink()
    with pytest.raises(ResultsError, match="status finished but evals.parquet missing"):
        build_database(find_run_dirs([tmp_path / "b"]), tmp_path / "x.duckdb")
    assert not (tmp_path / "x.duckdb").exists()


def test_find_run_dirs_searches_roots_and_skips_hidden(tmp_path):
    write_run(tmp_path / "runs", "fql", T1, 0, final_successes=1)
    write_run(tmp_path / ".snakemake" / "shadow", "fql", T1, 0, final_successes=1)
    found = find_run_dirs([tmp_path])
    assert len(found) == 1 and ".snakemake" not in str(found[0])
    assert find_run_dirs([found[0], found[0] / "run.json", tmp_path / "runs"]) == found
    with pytest.raises(ResultsError, match="does not exist"):
        find_run_dirs([tmp_path / "nowhere"])


def test_two_real_toy_runs(tmp_path):
    import torch

    from drol.train import train

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny nets: one thread is as fast, and immune to a busy machine
    try:
        _two_real_toy_runs(tmp_path, train)
    finally:
        torch.set_num_threads(threads)


def _two_real_toy_runs(tmp_path, train):

    fast = ["steps=40", "eval_interval=20", "eval_episodes=20", "log_interval=20", "val_interval=20",
            "checkpoint_interval=1000", "snapshot_states=2"]
    for label in ("DROL(16)", "DROL"):  # K = 16 and the toy's tuned K = 4, agent config from the registry
        spec = resolve_run("drol", TOY_TASK, 0, parse_sets(fast, "drol"), label)
        assert train(spec, tmp_path / "runs" / label, progress=False) == "finished"
    db = tmp_path / "results.duckdb"
    counts = build_database(find_run_dirs([tmp_path / "runs"]), db)
    assert counts["runs"] == 2 and counts["evaluations"] == 2 * 3 * 20 and counts["timings"] == 2
    assert counts["snapshots"] == 3 * 2 * (16 + 4) and counts["snapshot_states"] == 2 * 2
    assert rows(db, "SELECT K, list(label ORDER BY label) FROM runs JOIN run_labels USING (run_id) GROUP BY K "
                    "ORDER BY K") == [(4, ["DROL"]), (16, ["DROL(16)"])]
    final = rows(db, "SELECT final_step, score FROM final_scores ORDER BY K")
    assert [step for step, _ in final] == [40, 40]
    for label, K in (("DROL", 4), ("DROL(16)", 16)):
        evals = pd.read_parquet(tmp_path / "runs" / label / "evals.parquet")
        expected = evals[evals.step == 40].score.mean()
        got = rows(db, "SELECT mean, n_seeds FROM task_scores WHERE label = ?", [label])
        assert got == [(pytest.approx(expected), 1)]
        assert rows(db, "SELECT score FROM final_scores WHERE K = ?", [K]) == [(pytest.approx(expected),)]
    assert rows(db, "SELECT count(*) FROM runtime WHERE ms_per_update > 0 AND ms_per_inference_step > 0") == [(2,)]
    assert rows(db, "SELECT DISTINCT run_dir FROM runs ORDER BY 1") == [("runs/DROL",), ("runs/DROL(16)",)]


# CLI
def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="drol")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_build_db_and_query_formats(fabricated, tmp_path, capsys):
    db = tmp_path / "cli.duckdb"
    assert cli(["build-db", str(fabricated["root"]), "--out", str(db)]) == 0
    out = capsys.readouterr().out
    assert f"{db}: 19 runs (17 finished, 1 interrupted, 1 running)" in out and "2 runs have not ended" in out
    sql = ("SELECT task, label, mean, seeds FROM task_scores WHERE label <> 'FQL' AND family = 'cube-double-play' "
           "ORDER BY task, label")
    assert cli(["query", sql, "--db", str(db), "--csv"]) == 0
    csv = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(csv.columns) == ["task", "label", "mean", "seeds"] and len(csv) == 4
    assert csv.set_index(["task", "label"]).loc[(T1, "DROL"), "mean"] == pytest.approx(250 / 3)
    assert json.loads(csv.seeds[0]) == [0, 1, 2]
    assert cli(["query", sql, "--db", str(db), "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert records[0]["seeds"] == [0, 1, 2] and {r["label"] for r in records} == {"DROL", "DROL(16)"}
    assert cli(["query", "SELECT label, mean FROM task_scores WHERE task = '" + T2 + "' AND label = 'FQL'",
                "--db", str(db)]) == 0
    table = capsys.readouterr().out
    assert "FQL" in table and "NULL" in table
    assert cli(["query", "SELECT 1 AS a WHERE false", "--db", str(db)]) == 0
    assert "(0 rows)" in capsys.readouterr().out


@pytest.mark.parametrize("argv, names", [
    (["query", "SELECT 1", "--db", "{tmp}/missing.duckdb"], ["missing.duckdb", "not found", "drol build-db"]),
    (["query", "SELECT * FROM no_such_table", "--db", "{db}"], ["SQL error", "no_such_table", "SHOW TABLES"]),
    (["query", "SELEC 1", "--db", "{db}"], ["SQL error", "syntax error"]),
    (["query", "SELECT 1", "--db", "{tmp}/notdb.duckdb"], ["notdb.duckdb", "cannot open", "drol build-db"]),
    (["build-db", "{tmp}/empty", "--out", "{tmp}/x.duckdb"], ["no run directories", "empty", "drol train"]),
    (["build-db", "{tmp}/nowhere", "--out", "{tmp}/x.duckdb"], ["nowhere", "does not exist"]),
])
def test_cli_errors_are_one_line_naming_the_fix(fabricated, tmp_path, capsys, argv, names):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notdb.duckdb").write_text("not a database")
    argv = [a.format(tmp=tmp_path, db=fabricated["db"]) for a in argv]
    assert cli(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(n in err for n in names), err
    assert err.startswith(f"drol {argv[0]}: error: ")
    assert not (tmp_path / "x.duckdb").exists()


def test_cli_help_documents_every_option():
    parser = argparse.ArgumentParser(prog="drol")
    sub = parser.add_subparsers(dest="command")
    add_commands(sub)
    assert set(sub.choices) == {"build-db", "query", "schema"}
    for command, subparser in sub.choices.items():
        options = [a for a in subparser._actions if not isinstance(a, argparse._HelpAction)]
        assert options and all(a.help for a in options), command
        assert subparser.description


def test_drol_cli_wiring(fabricated, capsys):
    from drol import cli as drol_cli

    parser = drol_cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "query" not in sub.choices:
        pytest.skip("drol/cli.py does not register build-db/query yet (add_commands)")
    assert drol_cli.main(["query", "SELECT count(*) AS n FROM runs", "--db", str(fabricated["db"]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"n": 19}]


@pytest.mark.skipif(not os.environ.get("DROL_OLD_DUCKDB_PYTHON"),
                    reason="set DROL_OLD_DUCKDB_PYTHON to a Python with duckdb 1.x to check the file opens there")
def test_old_duckdb_client_reads_every_table_and_view(fabricated):
    script = ("import duckdb, json, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
              "names = [n for (n,) in c.execute('SELECT table_name FROM information_schema.tables').fetchall()]; "
              "print(json.dumps({'version': duckdb.__version__, "
              "'counts': {n: c.execute(f'SELECT count(*) FROM \"{n}\"').fetchone()[0] for n in names}}))")
    result = subprocess.run([os.environ["DROL_OLD_DUCKDB_PYTHON"], "-c", script, str(fabricated["db"])],
                            capture_output=True, text=True, check=True)
    old = json.loads(result.stdout)
    assert old["version"].startswith("1.")
    new = {n: len(r) for n, r in all_content(fabricated["db"]).items()}
    assert old["counts"] == new
