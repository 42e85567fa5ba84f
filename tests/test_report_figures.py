"""drol.reports.figures: every figure from a FABRICATED results database (run directories with known numbers,
built by drol.results.db.build_database), determinism, and figures without data."""

import math
from pathlib import Path

import duckdb
import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("seaborn")

import plotted
from conftest import write_run_dir

from drol.config import parse_sets, resolve_run  # noqa: E402
from drol.data.toy import ToyBandit  # noqa: E402
from drol.methods import K_SWEEP  # noqa: E402
from drol.reports import figures  # noqa: E402
from drol.results.db import build_database, find_run_dirs  # noqa: E402
from drol.tasks import TOY_TASK, registry  # noqa: E402

CUBE = "cube-single-play-singletask-task1-v0"  # DROL's tuned K is 16 here: DROL and DROL(16) are one run
STEPS = 100
EVAL_STEPS = (1, 50, 100)
LOG_STEPS = tuple(range(10, STEPS + 1, 10))
EPISODES = 4
SWEEP_K = (1, 2, 4, 8, 16)
SEEDS = (0, 1)
STATES = 2
TOY = ToyBandit()


def write_run(root: Path, method: str, task: str, seed: int, label: str | None = None, sets=(),
              steps: int = STEPS, ms_per_update: float = 10.0, tags=()) -> dict:
    """A finished run directory as `drol train` writes it (run.json, evals, train metrics, snapshots, timing);
    `tags`: the studies the workflow planned it for (K-sweep, runtime)."""
    spec = resolve_run(method, task, seed, parse_sets([f"steps={steps}", *sets], method), label, tags=tuple(tags))
    toy = task == TOY_TASK
    k = getattr(spec.agent, "num_candidates", 16)
    action_dim = 2 if toy else 5
    if toy:
        states = TOY.observe(np.linspace(0.3, 4.0, STATES)).astype(float).tolist()
        info = {"generator": "toy", **TOY.describe()}
    else:
        states = [[0.1 * i, 0.2, 0.3] for i in range(STATES)]
        info = {}
    rng = np.random.default_rng(1000 * seed + k + (7 if method == "fql" else 0))
    evals, metrics, snaps = [], [], []
    quality = min(1.0, 0.25 + 0.4 * math.log2(k)) if method == "drol" else 0.25
    eval_steps = EVAL_STEPS if steps == STEPS else (1, steps)
    for step in eval_steps:
        wins = round(EPISODES * quality * step / eval_steps[-1]) if step > 1 else 0
        for episode in range(EPISODES):
            success = episode < wins + (seed if step == eval_steps[-1] and wins + seed <= EPISODES else 0)
            evals.append({"step": step, "episode": episode, "success": success, "return": float(success),
                          "score": 100.0 * success, "length": 1})
        # Candidates: collapsed at the centre at first, on the ring of modes later.
        spread = step / eval_steps[-1]
        for state_id, obs in enumerate(states):
            centres = TOY.centres(np.asarray([obs[:2]], dtype=np.float32))[0]
            for c in range(k):
                target = centres[c % len(centres)] + 0.05 * rng.standard_normal(2)
                xy = spread * target + (1 - spread) * 0.05 * rng.standard_normal(2)
                action = np.concatenate([xy, 0.1 * rng.standard_normal(action_dim - 2)])
                snaps.append({"step": step, "state_id": state_id, "candidate": c,
                              **{f"a{d}": float(np.clip(v, -1, 1)) for d, v in enumerate(action)}})
    for step in LOG_STEPS:
        noise = 1 + 0.05 * seed + 0.01 * step / STEPS
        values = {"bc_loss": 0.2 / math.sqrt(k) * noise, "critic_loss": 1.0 / step}
        if method == "drol":
            values["pairwise_distance"] = 0.0 if k == 1 else 0.1 * math.log2(2 * k) * noise
            values["centroid_divergence"] = 0.0 if k == 1 else 0.01 * k * noise
        metrics += [(step, name, value) for name, value in values.items()]
    timing = {"device": "cpu (test)", "ms_per_update": ms_per_update, "ms_per_inference_step": 0.2,
              "eval_env_steps_per_s": 100.0, "wall_time_s": 3.0, "updates_timed": steps}
    run = write_run_dir(root, spec, fingerprint=f"fingerprint-of-{task}", evals=evals, metrics=metrics,
                        snapshots=snaps, timing=timing, route="toy" if toy else "ogbench", obs_dim=len(states[0]),
                        action_dim=action_dim, snapshot_states=states, dataset_info=info)
    return run


def fabricate(root: Path) -> dict:
    """Toy: DROL(16), DROL (K = 4), FQL and a K sweep (tagged K-sweep, as the workflow tags it); cube-single:
    DROL(16) = DROL, FQL; timing runs on cube (not tagged here: `labelled_database` adds the runtime tag)."""
    runs = {}
    for seed in SEEDS:
        runs["toy-fql", seed] = write_run(root, "fql", TOY_TASK, seed)
        for k in SWEEP_K:  # K = 16 is DROL(16), K = 4 the toy's DROL: the labels come from the configs
            runs["toy", k, seed] = write_run(root, "drol", TOY_TASK, seed, sets=[f"num_candidates={k}"],
                                             tags=[K_SWEEP])
        runs["cube", seed] = write_run(root, "drol", CUBE, seed, "DROL(16)")
        runs["cube-fql", seed] = write_run(root, "fql", CUBE, seed)
    timing = ["eval_interval=20"]
    runs["time-fql"] = write_run(root / "timing", "fql", CUBE, 0, sets=timing, steps=20, ms_per_update=90.0)
    for k in (1, 4, 8, 16):
        runs["time", k] = write_run(root / "timing", "drol", CUBE, 0, sets=[*timing, f"num_candidates={k}"],
                                    steps=20, ms_per_update=50.0 + 3 * k)
    return runs


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    root = tmp_path_factory.mktemp("figruns")
    runs = fabricate(root)
    db = root.parent / f"{root.name}.duckdb"
    build_database(find_run_dirs([root]), db)
    return {"db": db, "runs": runs, "root": root}


@pytest.fixture(scope="module")
def labelled_database(database, tmp_path_factory):
    """The same database with the timing runs labelled 'runtime' (as the workflow's runtime runs are)."""
    db = tmp_path_factory.mktemp("labelled") / "results.duckdb"
    db.write_bytes(database["db"].read_bytes())
    timing = [r["run_id"] for key, r in database["runs"].items() if str(key[0] if isinstance(key, tuple) else key)
              .startswith("time")]
    with duckdb.connect(str(db)) as con:
        con.executemany("INSERT INTO run_labels VALUES (?, 'runtime')", [[run_id] for run_id in timing])
    return {"db": db, "timing": timing}


LABEL = "Demo: short CPU runs, not comparable to the paper"


@pytest.fixture(scope="module")
def rendered(database, tmp_path_factory):
    """Every figure once without a label (one function at a time; drawn: their matplotlib figures) and once with
    LABEL (write_figures, given an open read-only connection)."""
    out = tmp_path_factory.mktemp("rendered")
    with pytest.MonkeyPatch.context() as patch:
        drawn = plotted.capture(patch)
        plain = {stem: function(database["db"], out / "plain") for stem, function in figures.FIGURES.items()}
    with duckdb.connect(str(database["db"]), read_only=True) as con:
        labelled = figures.write_figures(con, out / "label", LABEL)
        still_open = con.execute("SELECT count(*) FROM runs").fetchone()[0]
    return {"plain": plain, "labelled": labelled, "still_open": still_open, "out": out, "drawn": drawn}


@pytest.mark.parametrize("stem", list(figures.FIGURES))
def test_every_figure_writes_png_and_pdf(rendered, stem):
    paths = rendered["plain"][stem]
    assert [p.name for p in paths] == [f"{stem}.png", f"{stem}.pdf"]
    png, pdf = paths
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 5_000


def test_write_figures_with_label_and_an_open_connection(database, rendered):
    assert rendered["still_open"] == len(database["runs"])  # the caller's connection is not closed
    labelled = rendered["labelled"]
    expected = [f"{s}.{f}" for s in figures.FIGURES for f in ("png", "pdf")]
    assert [p.name for p in labelled] == expected
    # No temporary file is left behind (atomic writes).
    for folder in ("plain", "label"):
        assert sorted(p.name for p in (rendered["out"] / folder).iterdir()) == sorted(expected)
    plain = [p for paths in rendered["plain"].values() for p in paths]
    for with_label, without in zip(labelled, plain):  # the note is drawn: the images differ
        assert with_label.name == without.name and with_label.read_bytes() != without.read_bytes()


def test_figures_are_deterministic(database, rendered, tmp_path):
    again = figures.write_figures(database["db"], tmp_path, LABEL)
    for a, b in zip(rendered["labelled"], again):
        assert a.name == b.name and a.read_bytes() == b.read_bytes(), a.name
    png, pdf = again[0].read_bytes(), again[1].read_bytes()
    assert b"CreationDate" not in pdf and b"Matplotlib" not in pdf
    assert b"Software" not in png[:4096] and b"tIME" not in png


def test_figures_without_data_write_nothing(tmp_path, caplog):
    """An empty database (no runs), then one with only FQL runs: no figure raises, empty ones return []."""
    empty = tmp_path / "empty.duckdb"
    build_database([], empty)
    with caplog.at_level("WARNING", logger="drol.reports.figures"):
        for name, function in figures.FIGURES.items():
            assert function(empty, tmp_path / "out") == [], name
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert "no finished K-sweep run" in caplog.text and "no run has timings" in caplog.text
    assert figures.write_figures(empty, tmp_path / "out") == []

    write_run(tmp_path / "runs", "fql", CUBE, 0)
    fql_only = tmp_path / "fql.duckdb"
    build_database(find_run_dirs([tmp_path / "runs"]), fql_only)
    written = {p.stem for p in figures.write_figures(fql_only, tmp_path / "fql")}
    assert written == {"runtime", "learning_curves", "performance_profile"}  # no K sweep, no DROL snapshots


def test_missing_database_is_one_clear_error(tmp_path):
    from drol.results.db import ResultsError

    with pytest.raises(ResultsError, match="not found.*drol build-db"):
        figures.runtime_figure(tmp_path / "missing.duckdb", tmp_path)


def test_runtime_uses_the_runtime_label_and_falls_back_to_all_runs(database, labelled_database):
    """The figure's bars are the rows of the view `runtime` with shown: the runs labelled 'runtime' when there are
    any; else the timed runs of one setup (task, device, nets, batch, steps): the largest networks, then the most
    cases: the cube-single timing runs (4 x 512; FQL, K = 1, 4, 8, 16), not the toy task (3 x 128, more cases)
    nor the full-length cube runs (FQL, K = 16 only), whose timings are other rows of the view."""
    expected = [("FQL", 0), ("DROL", 1), ("DROL", 4), ("DROL", 8), ("DROL", 16)]
    for db, timing_runs, words in ((labelled_database["db"], True, "labelled 'runtime'"),
                                   (database["db"], False, "no run is labelled")):
        with duckdb.connect(str(db), read_only=True) as con:
            frame, source = figures.runtime_data(con)
            shown = con.execute("SELECT DISTINCT task, steps, timing_runs FROM runtime WHERE shown").fetchall()
            others = con.execute("SELECT sum(n_runs) FROM runtime WHERE NOT shown").fetchone()[0]
        assert shown == [(CUBE, 20, timing_runs)] and words in source
        assert others == len(database["runs"]) - len(labelled_database["timing"])
        cases = figures.runtime_cases(frame)
        assert list(cases.index) == expected
        assert list(cases.train) == [90.0, 53.0, 62.0, 74.0, 98.0] and list(cases.n) == [1] * 5


def test_train_metrics_are_tail_means_per_run(database):
    with duckdb.connect(str(database["db"]), read_only=True) as con:
        per_run = figures.train_metrics_data(con)
    assert set(per_run.task) == {TOY_TASK} and sorted(per_run.K.unique()) == list(SWEEP_K)
    row = per_run[(per_run.K == 4) & (per_run.seed == 1) & (per_run.name == "bc_loss")]
    tail = [s for s in LOG_STEPS if s >= 0.9 * STEPS]  # steps 90 and 100
    expected = np.mean([0.2 / 2 * (1 + 0.05 + 0.01 * s / STEPS) for s in tail])
    assert row.value.tolist() == [pytest.approx(expected)]


def test_k_sensitivity_best_k_and_routing_choice(database):
    with duckdb.connect(str(database["db"]), read_only=True) as con:
        sweep = figures.k_sensitivity_data(con)
        rows = figures.routing_data(con, state_id=0)
    assert set(sweep.task) == {TOY_TASK} and sorted(sweep.K.unique()) == list(SWEEP_K)
    assert figures.best_k(sweep[sweep.task == TOY_TASK]) == 4  # success saturates at K = 4: the smallest best
    kinds = {kind: run for kind, run, _, _ in rows}
    assert set(kinds) == {"toy", "real"}
    assert kinds["toy"].K == 4 and "DROL" in list(kinds["toy"].labels)  # the toy's DROL (K = M = 4)
    assert kinds["real"].task == CUBE and kinds["real"].K == 16 and kinds["real"].seed == 0


def test_k_sensitivity_caption_names_the_tasks_the_paper_does_not(database, tmp_path, monkeypatch):
    """The paper's Fig. 4 names its representative OGBench tasks only: a swept task outside them (the toy
    task here; D4RL tasks in paper.yaml) is named in the caption as our choice."""
    from drol.reports.figures import common as kit

    captions = []
    monkeypatch.setattr(kit, "finish", lambda fig, caption, label: captions.append(" ".join(caption)))
    figures.k_sensitivity_figure(database["db"], tmp_path)
    assert len(captions) == 1 and "diverged runs (scored 0)" in captions[0]
    assert captions[0].endswith("Tasks the paper's Fig. 4 does not name (our choice): toy-bandit."), captions[0]


def test_learning_curves_of_many_tasks_are_paged(tmp_path):
    tasks = [name for name, task in registry().items() if task.suite == "ogbench"][:figures.MAX_PANELS + 1]
    for task in tasks:
        write_run(tmp_path / "runs", "fql", task, 0)
    db = tmp_path / "many.duckdb"
    build_database(find_run_dirs([tmp_path / "runs"]), db)
    out = tmp_path / "out"
    out.mkdir()
    for stale in ("learning_curves_p3.png", "learning_curves_p3.pdf"):  # left by an earlier, larger database
        (out / stale).write_bytes(b"old")
    paths = figures.learning_curves_figure(db, out)
    assert [p.name for p in paths] == ["learning_curves.png", "learning_curves.pdf", "learning_curves_p2.png",
                                       "learning_curves_p2.pdf"]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths)


# One figure list, one selection rule
def test_every_registered_figure_has_a_caption_and_a_config_key():
    repo = Path(__file__).resolve().parents[1]
    schema = (repo / "workflow/schemas/config.schema.yaml").read_text()
    for stem, figure in figures.FIGURES.items():
        assert figure.stem == stem and callable(figure.function)
        assert (repo / "workflow/report" / f"{stem}.rst").is_file(), f"no caption workflow/report/{stem}.rst"
        assert figure.needs is None or f"{figure.needs}:" in schema, figure.needs
    assert figures.figures_for({}) == ["routing", "learning_curves", "performance_profile"]
    assert figures.figures_for({"runtime": {"task": CUBE}, "k_sweep": {"tasks": [TOY_TASK]}}) == list(figures.FIGURES)


def test_tables_and_figures_show_the_same_setting_and_never_timing_runs(tmp_path):
    """FQL ran 100 steps; DROL(16) only 50 steps, with more seeds; timing runs (20 steps, tagged runtime) carry
    method labels too. Per task and label the selection rule shows the longest setting of that label: Table 4
    and the learning curves both show DROL(16) at 50 steps (a per-task pick across labels would drop it), and
    the timing runs are in no method result."""
    from drol.methods import RUNTIME
    from drol.reports.tables import table4

    root = tmp_path / "runs"
    for seed in (0, 1):
        write_run(root, "fql", CUBE, seed)
    for seed in (0, 1, 2):
        write_run(root, "drol", CUBE, seed, "DROL(16)", steps=50)
    write_run(root, "fql", CUBE, 0, steps=20, tags=[RUNTIME])
    write_run(root, "drol", CUBE, 0, steps=20, tags=[RUNTIME])
    db = tmp_path / "results.duckdb"
    build_database(find_run_dirs([root]), db)
    ours = {row.key: row for row in table4(db).rows}[CUBE].ours
    assert (ours["FQL"].setting.steps, ours["FQL"].n_seeds) == (STEPS, 2)
    assert (ours["DROL(16)"].setting.steps, ours["DROL(16)"].n_seeds) == (50, 3)
    assert all(not s.alternatives for s in ours.values())  # the timing runs are no alternative setting
    with duckdb.connect(str(db), read_only=True) as con:
        curves = figures.learning_curves_data(con)
        assert con.execute("SELECT count(*) FROM task_scores WHERE steps = 20").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM result_runs WHERE steps = 20").fetchone() == (0,)
        # One row per label, K beside it: DROL(16) and DROL are the same runs on cube-single (tuned K 16).
        table4 = con.execute("SELECT label, K, steps, n_seeds FROM table4 WHERE task = ? AND ours_mean IS NOT NULL",
                             [CUBE]).fetchall()
    last = curves.groupby("label").step.max().to_dict()
    assert last == {"FQL": STEPS, "DROL(16)": 50, "DROL": 50}  # cube-single: DROL's tuned K is 16, one run
    assert curves.groupby("label").run_id.nunique().to_dict() == {"FQL": 2, "DROL(16)": 3, "DROL": 3}
    assert table4 == [("FQL", None, STEPS, 2), ("DROL(16)", 16, 50, 3), ("DROL", 16, 50, 3)]


@pytest.mark.parametrize("stem", sorted(plotted.CHECKS))
def test_each_figure_draws_the_numbers_of_its_view(database, rendered, stem):
    """The numbers on the figure's axes are its view's shown rows (tests/plotted.py says which, per figure)."""
    with duckdb.connect(str(database["db"]), read_only=True) as con:
        plotted.CHECKS[stem](rendered["drawn"], con)


def test_k_figures_draw_the_tasks_and_k_of_the_sweep(database, rendered):
    """Fig. 3 top draws, task by task, the K values `k_sensitivity` shows; the routing figure a run of the
    setting shown."""
    with duckdb.connect(str(database["db"]), read_only=True) as con:
        view = dict(con.execute("SELECT task, list(K ORDER BY K) FROM k_sensitivity WHERE shown GROUP BY task")
                    .fetchall())
        shown = {run_id for (run_id,) in con.execute("SELECT run_id FROM shown_runs WHERE for_task").fetchall()}
        routing = figures.routing_data(con)
    drawn = {}
    for sub in rendered["drawn"]["train_metrics_vs_k"].subfigs:
        task = sub.get_suptitle().split("  (")[0]
        drawn[task] = sorted({int(k) for ax in sub.axes for line in ax.lines for k in line.get_xdata()})
    assert drawn == view
    assert routing and all(run.run_id in shown for _, run, _, _ in routing)
