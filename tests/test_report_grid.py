"""The reports at the paper grid's scale, and the workflow's report files: a fabricated run directory for every
run workflow/config/paper.yaml plans (drol.workflow.plan_runs: ~1,900), the database built from them, every
table and figure written; each figure draws its view's numbers, the K figures one panel per swept task, and
the files written are those the workflow declares (drol.workflow.figure_files). Fast tests of the same wiring
on small configs."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest
import yaml

pytest.importorskip("matplotlib")

import plotted  # noqa: E402
from conftest import write_run_dir  # noqa: E402

from drol.methods import K_SWEEP, RUNTIME  # noqa: E402
from drol.reports import figures  # noqa: E402
from drol.results.db import build_database, find_run_dirs  # noqa: E402
from drol.tasks import get_task, registry  # noqa: E402
from drol.workflow import figure_files, plan_jobs, plan_runs, reports_message, validate_config  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow/schemas/config.schema.yaml"
EVALUATIONS = 5  # per run, the last at the run's final step
EPISODES = 10
DIVERGED_EVERY = 41  # every 41st run diverged (scored 0 in the tables and K sensitivity, no curve)


def config_of(name: str) -> dict:
    config = yaml.safe_load((REPO / f"workflow/config/{name}.yaml").read_text())
    validate_config(config, SCHEMA)
    return config


def manipulation_config(n_tasks: int) -> dict:
    """FQL and DROL(16) on `n_tasks` regenerable OGBench tasks, each swept over K: no dataset needed."""
    tasks = [name for name, task in registry().items() if task.family.startswith(("cube", "scene", "puzzle"))]
    config = {"label": "many tasks", "seeds": [0], "methods": ["FQL", "DROL(16)"],
              "tasks": dict.fromkeys(tasks[:n_tasks]), "training": {"steps": 20},
              "k_sweep": {"tasks": tasks[:n_tasks], "values": [1, 16]},
              "data": {"regenerate": {"episodes": 2, "seed": 0}}}
    validate_config(config, SCHEMA)
    return config


def fabricate(root: Path, config: dict) -> dict:
    """A run directory for every run `config` plans, as `drol train` writes it: EVALUATIONS evaluations of EPISODES
    episodes, routing metrics, candidate snapshots (methods with K), a timing (one update of the job's seed
    block); every DIVERGED_EVERY-th run diverged. Returns the planned runs."""
    runs = plan_runs(config)
    block = {r.run_dir: len(job.runs) for job in plan_jobs(config, runs).values() for r in job.runs}
    for i, (run_dir, planned) in enumerate(runs.items()):
        spec = planned.spec
        rng = np.random.default_rng(i)
        steps = spec.train.steps
        k = getattr(spec.agent, "num_candidates", None)
        skill = rng.uniform(0.1, 1.0)
        evals = [{"step": int(step), "episode": e, "success": success, "return": float(success),
                  "score": 100.0 * success, "length": 100}
                 for step in np.linspace(steps / EVALUATIONS, steps, EVALUATIONS).astype(int)
                 for e in range(EPISODES) for success in [bool(rng.random() < skill * step / steps)]]
        metrics = [(int(step), name, float(rng.uniform(0.1, 1.0))) for step in (steps // 2, steps)
                   for name in ("bc_loss", "pairwise_distance", "centroid_divergence")]
        snapshots = [{"step": int(step), "state_id": 0, "candidate": c, "a0": float(rng.uniform(-1, 1)),
                      "a1": float(rng.uniform(-1, 1))} for step in (1, steps) for c in range(k or 0)]
        timing = {"device": "gpu (fabricated)", "ms_per_update": 4.0 + 0.05 * (k or 20) + rng.uniform(0, 0.5),
                  "ms_per_inference_step": 0.1 + 0.01 * (k or 1), "updates_timed": steps, "wall_time_s": 1.0,
                  "block_seeds": block[run_dir]}
        write_run_dir(root, spec, fingerprint=f"fingerprint-of-{spec.task}", evals=evals, metrics=metrics,
                      snapshots=snapshots, timing=timing, status="diverged" if i % DIVERGED_EVERY == 7 else "finished",
                      route=get_task(spec.task).suite, obs_dim=3, action_dim=2,
                      snapshot_states=[[0.1, 0.2, 0.3]])
    return runs


# The workflow's report files, on small configs
def test_figure_files_follow_the_config():
    paper = config_of("paper")
    files = figure_files(paper)
    assert list(files) == list(figures.FIGURES)
    n_tasks = len(paper["tasks"])  # the K-sweep's tasks are among them
    assert files["learning_curves"] == figures.page_stems("learning_curves", n_tasks) and n_tasks == 68
    assert files["learning_curves"][-1] == "learning_curves_p5"
    assert files["k_sensitivity"] == ["k_sensitivity"]  # 12 swept tasks: one page
    assert all(files[stem] == [stem] for stem in ("runtime", "train_metrics_vs_k", "routing", "performance_profile"))
    one_file = ("routing", "learning_curves", "performance_profile")  # no k_sweep, no runtime
    assert figure_files(config_of("evidence")) == {stem: [stem] for stem in one_file}
    many = figure_files(manipulation_config(figures.MAX_PANELS + 1))
    assert many["learning_curves"] == ["learning_curves", "learning_curves_p2"]
    assert many["k_sensitivity"] == ["k_sensitivity", "k_sensitivity_p2"]


def test_timing_runs_add_no_panel():
    """The runtime task, trained only by the timing runs, is no panel (its runs are no method result)."""
    config = manipulation_config(2)
    config["runtime"] = {"task": "scene-play-singletask-task1-v0", "values": [1, 16]}
    validate_config(config, SCHEMA)
    assert figure_files(config)["learning_curves"] == ["learning_curves"]
    runtime_tasks = {r.spec.task for r in plan_runs(config).values() if RUNTIME in r.spec.labels}
    assert runtime_tasks == {"scene-play-singletask-task1-v0"} and runtime_tasks.isdisjoint(config["tasks"])


@pytest.mark.slow
def test_report_html_shows_every_page(tmp_path):
    """The figure rules declare every page as a report output: `snakemake --report` bundles them all."""
    pytest.importorskip("snakemake")
    from drol.reports.tables import write_tables

    shutil.copy(REPO / "Snakefile", tmp_path)
    for folder in ("workflow", "profiles"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    config = manipulation_config(figures.MAX_PANELS + 1)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    fabricate(tmp_path / "results/runs", config)
    build_database(find_run_dirs([tmp_path / "results/runs"]), tmp_path / "results.duckdb")
    write_tables(tmp_path / "results.duckdb", tmp_path / "reports")
    figures.write_figures(tmp_path / "results.duckdb", tmp_path / "reports")
    result = subprocess.run([sys.executable, "-m", "snakemake", "--report", "report.html", "--configfile",
                             "config.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    added = set(re.findall(r"^Adding (\S+) \(", result.stdout + result.stderr, re.M))
    pages = [f"{page}.png" for stems in figure_files(config).values() for page in stems]
    assert {"learning_curves_p2.png", "k_sensitivity_p2.png"} <= set(pages) <= added
    html = (tmp_path / "report.html").read_text()
    assert all(page in html for page in pages)


def test_reports_message_names_every_file_and_the_report_command():
    files = ["results.duckdb", "reports/table4.html", "reports/table4.md", "reports/table4.tex",
             "reports/learning_curves.png", "reports/learning_curves.pdf", "reports/learning_curves_p2.png",
             "reports/learning_curves_p2.pdf"]
    message = reports_message(files, ["workflow/config/paper.yaml"])
    lines = message.splitlines()
    assert lines[0] == f"drol: the database, tables and figures, in {Path.cwd()}:"
    assert " ".join(lines[1:-1]).split() == ["results.duckdb,", "reports/table4.{html,md,tex},",
                                             "reports/learning_curves.{png,pdf},",
                                             "reports/learning_curves_p2.{png,pdf}"]
    assert lines[-1].endswith("snakemake --report report.html --configfile workflow/config/paper.yaml")
    assert reports_message(files).endswith("snakemake --report report.html")
    assert reports_message(files, [Path.cwd() / "config.yaml"]).endswith("report.html --configfile config.yaml")


# The paper grid
@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    from drol.reports.tables import write_tables

    root = tmp_path_factory.mktemp("grid")
    config = config_of("paper")
    runs = fabricate(root / "runs", config)
    db = root / "results.duckdb"
    build_database(find_run_dirs([root / "runs"]), db)
    write_tables(db, root / "reports", config["label"])
    with pytest.MonkeyPatch.context() as patch:
        drawn = plotted.capture(patch)
        written = figures.write_figures(db, root / "reports", config["label"])
    return {"config": config, "runs": runs, "db": db, "drawn": drawn, "written": written}


@pytest.mark.slow
@pytest.mark.parametrize("stem", sorted(plotted.CHECKS))
def test_grid_figures_draw_the_numbers_of_their_views(grid, stem):
    with duckdb.connect(str(grid["db"]), read_only=True) as con:
        plotted.CHECKS[stem](grid["drawn"], con)


@pytest.mark.slow
def test_grid_writes_the_files_the_workflow_declares(grid):
    declared = figure_files(grid["config"], grid["runs"])
    assert [p.name for p in grid["written"]] == [f"{page}.{ext}" for pages in declared.values() for page in pages
                                                 for ext in ("png", "pdf")]
    assert len(declared["learning_curves"]) == 5


@pytest.mark.slow
def test_grid_k_figures_have_one_panel_per_swept_task(grid):
    """Only the K sweep's tasks (label K-sweep), not the DROL(16)/DROL pair of every other task."""
    swept = set(grid["config"]["k_sweep"]["tasks"])
    with duckdb.connect(str(grid["db"]), read_only=True) as con:
        view = dict(con.execute("SELECT task, list(K ORDER BY K) FROM k_sensitivity WHERE shown GROUP BY task")
                    .fetchall())
        sweep_runs = con.execute(f"SELECT count(DISTINCT run_id) FROM run_labels WHERE label = '{K_SWEEP}'").fetchone()
    assert set(view) == swept and all(ks == grid["config"]["k_sweep"]["values"] for ks in view.values())
    assert set(plotted.panels(grid["drawn"], "k_sensitivity", swept)) == swept
    assert len(plotted.pages(grid["drawn"], "k_sensitivity")) == 1
    assert sweep_runs == (len(swept) * len(grid["config"]["k_sweep"]["values"]) * len(grid["config"]["seeds"]),)


@pytest.mark.slow
def test_grid_table4_has_one_row_per_task_and_label_and_no_timing_runs(grid):
    """Ours: every task and method label once, at the planned length with every seed (diverged ones count as 0);
    the timing runs (20,000 steps on one task) in no row."""
    config = grid["config"]
    planned = {(r.spec.task, r.spec.train.steps) for r in grid["runs"].values() if RUNTIME not in r.spec.labels}
    with duckdb.connect(str(grid["db"]), read_only=True) as con:
        keys = con.execute("SELECT task, label FROM table4").fetchall()
        ours = con.execute("SELECT task, label, steps, n_seeds FROM table4 WHERE ours_mean IS NOT NULL").fetchall()
        timing = con.execute(f"SELECT count(*) FROM result_runs WHERE run_id IN "
                             f"(SELECT run_id FROM run_labels WHERE label = '{RUNTIME}')").fetchone()
    assert len(keys) == len(set(keys)) and timing == (0,)
    expected = sorted((task, label) for task in config["tasks"] for label in config["methods"])
    assert sorted((t, lb) for t, lb, _, _ in ours) == expected
    assert {(t, steps) for t, _, steps, _ in ours} == planned and {n for _, _, _, n in ours} == {len(config["seeds"])}


def test_fabricated_runs_are_the_planned_runs(tmp_path):
    """The fabricator on a small config: one finished (or diverged) run directory per planned run."""
    runs = fabricate(tmp_path, manipulation_config(2))
    found = find_run_dirs([tmp_path])
    assert len(found) == len(runs) == 6  # 2 tasks x (FQL, DROL(16) = K-sweep 16, K-sweep 1)
    db = tmp_path / "results.duckdb"
    build_database(found, db)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*), count(DISTINCT step) FROM evaluations").fetchone() == (
            len(runs) * EVALUATIONS * EPISODES, EVALUATIONS)
