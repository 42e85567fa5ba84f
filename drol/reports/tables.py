"""The paper's Tables 4 and 1 reproduced from results.duckdb, beside the paper's numbers, and statistics.

Every function reads the database read-only (`duckdb.connect(path, read_only=True)`) through its views
(`table4`, `table1`, `task_scores`, `family_scores`, `labelled_runs`) and reference tables
(`paper_scores`, `paper_family_scores`, `hparams`, `tasks`).

| function | output |
|---|---|
| `table4(db)` | per task: the paper's 11 methods; our FQL, DROL(16), DROL with ours - paper and seed counts |
| `table1(db)` | the same per family of the paper's Table 1 |
| `family_statistics(db)` | per family and method: IQM with a stratified bootstrap 95 % CI; performance profiles |
| `render_markdown/latex/html` | a table as Markdown, LaTeX (booktabs) or a self-contained HTML page |
| `write_tables(db, out_dir, label)` | table4.{md,tex,html}, table1.{md,tex,html}, stats.{md,csv}, profiles.csv |

Rules (DESIGN section 5):
- the final score of a run is its evaluation at its last step (view `final_scores`); per task mean and
  sample std over seeds; per family the mean over the family's tasks per seed, then mean and std over seeds;
- marks: bold when >= 0.95 x the best number of the row, underlined when bold and the method is one-step
  (FQL, DROL(16), DROL); applied to the paper's numbers this gives the paper's printed marks (tested).
  Our numbers are marked against the row with ours in place of the paper's FQL, DROL(16) and DROL;
- when the database holds several settings (steps, batch size, evaluation episodes, hparams source, data
  route) of one task and method, the table shows the one with the most steps, then the most seeds (Table 1:
  most steps, then most tasks covered, then most seeds) and lists the others in its notes.

Statistics use scipy (`scipy.stats.trim_mean` for the IQM, as rliable does; `scipy.stats.bootstrap` with one
sample per task and `paired=False`, i.e. seeds resampled with replacement within each task: rliable's
stratified bootstrap). rliable itself needs `arch`, whose releases rliable accepts (< 8) fail to import with
pandas 3. Output is deterministic (fixed bootstrap seed, no timestamps); files are written atomically.
"""

from __future__ import annotations

import html
import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
from scipy import stats as sps

from drol.io import atomic_write
from drol.results.db import ResultsError, connect_read_only

PAPER_METHODS = ("BC", "IQL", "ReBRAC", "FAWAC", "FBRAC", "IFQL", "DeFlow", "SORL", "FQL", "DROL(16)", "DROL")
OURS = ("FQL", "DROL(16)", "DROL")  # the paper's column order
ONE_STEP = frozenset(OURS)
BASELINES = tuple(m for m in PAPER_METHODS if m not in OURS)
MARK_RATIO = 0.95
SETTING = ("hparams_source", "steps", "batch_size", "eval_episodes", "data_route")
MISSING = "–"  # en dash: no number (not run, or not reported by the paper); negative numbers use "-"
TAUS = tuple(range(101))
N_RESAMPLES = 10_000
CONFIDENCE = 0.95
BOOTSTRAP_SEED = 0
ROUNDING_TOL = 1.0  # |mean of rounded Table 4 numbers - rounded Table 1 number| <= 0.5 + 0.5
SUITE_TITLES = {"ogbench": "OGBench", "d4rl": "D4RL"}
NOT_IN_PAPER = "Not in the paper"
ROUTES = {
    "ogbench": "OGBench's released dataset through OGBench's loader",
    "ogbench-regenerated": "dataset regenerated locally with OGBench's scripted oracles (drol gen-data)",
    "d4rl-hdf5": "the original D4RL HDF5 file read directly (h5py)",
    "d4rl-package": "the d4rl package",
    "minari": "the Minari dataset with gymnasium-robotics environments",
    "toy": "the toy bandit's generator",
}
FINAL_RULE = ("Final score of a run: its evaluation at its last step (the mean score over that evaluation's "
              "episodes), x 100: success rate on OGBench and the toy task, normalised return on D4RL. The paper "
              "states neither which evaluation it reports nor how many seeds. Only finished runs are averaged.")


# Marks
def mark_row(values: Mapping[str, float | None], one_step: Iterable[str] = ONE_STEP,
             ratio: float = MARK_RATIO) -> dict[str, str | None]:
    """The paper's marks for one row: 'b' (bold) when >= ratio x the row's best, 'u' when bold and one-step.

    Missing values (None, NaN) are neither compared nor marked. With a negative best the threshold is
    best - (1 - ratio) x |best| (the best stays bold); the paper's numbers are never negative.
    """
    one_step = set(one_step)
    present = {k: float(v) for k, v in values.items() if _present(v)}
    if not present:
        return {k: None for k in values}
    best = max(present.values())
    threshold = best - (1 - ratio) * abs(best)
    eps = 1e-9 * max(1.0, abs(best))
    return {k: (None if k not in present or present[k] < threshold - eps else ("u" if k in one_step else "b"))
            for k in values}


def _present(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


# Data model
@dataclass(frozen=True)
class Setting:
    hparams_source: str | None
    steps: int | None
    batch_size: int | None
    eval_episodes: int | None
    data_route: str | None

    @classmethod
    def of(cls, rec: Mapping) -> Setting:
        return cls(*(rec.get(k) for k in SETTING))

    def describe(self, other: Setting | None = None) -> str:
        """The setting in words; given `other`, only the fields where the two differ."""
        parts = {"steps": f"{_steps_text(self.steps)} steps", "batch_size": f"batch {_text(self.batch_size)}",
                 "eval_episodes": f"{_text(self.eval_episodes)} evaluation episodes",
                 "hparams_source": f"hparams {_text(self.hparams_source)}",
                 "data_route": f"data route {_text(self.data_route)}"}
        keys = [k for k in ("steps", "batch_size", "eval_episodes", "hparams_source", "data_route")
                if other is None or getattr(self, k) != getattr(other, k)]
        return ", ".join(parts[k] for k in keys)


@dataclass
class PaperScore:
    mean: float | None
    std: float | None
    mark: str | None  # by the rule
    printed_mark: str | None  # as printed in the paper


@dataclass
class OurScore:
    mean: float | None
    std: float | None
    n_seeds: int
    setting: Setting
    delta: float | None = None
    mark: str | None = None
    n_unfinished: int = 0
    tasks: tuple[str, ...] = ()  # Table 1: the tasks the runs cover
    family_tasks: int | None = None  # Table 1: tasks of the family
    partial: bool = False  # Table 1: fewer tasks than the family has; delta against the paper on those tasks
    mismatch: str | None = None  # why the paper's number comes from another configuration than ours (‡)
    alternatives: list[tuple[Setting, float | None, float | None, int]] = field(default_factory=list)


@dataclass
class Row:
    key: str  # task or family
    group: str  # OGBench, D4RL or NOT_IN_PAPER
    title: str  # task name with (*) for the representative task; family with its task count
    paper: dict[str, PaperScore]
    ours: dict[str, OurScore]
    paper_steps: int | None = None


@dataclass
class NoteTable:
    header: list[str]
    rows: list[list[str]]


@dataclass
class ScoreTable:
    """Table 4 (kind 'task') or Table 1 (kind 'family') with its notes ((heading, items) pairs)."""
    kind: str
    rows: list[Row]
    notes: list[tuple[str, list[str | NoteTable]]]


# Database access
def _connect(db_path: Path | str) -> duckdb.DuckDBPyConnection:
    return connect_read_only(db_path)


def _records(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence = ()) -> list[dict]:
    try:
        cursor = con.execute(sql, list(params))
    except duckdb.Error as err:
        raise ResultsError(f"the database lacks what the report reads ({str(err).splitlines()[0]}); rebuild it "
                           "with this version's `drol build-db results/runs --out results.duckdb`") from None
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


_OURS_SQL = ", ".join(f"'{label}'" for label in OURS)
_SAME_SETTING = " AND ".join(f"s.{k} IS NOT DISTINCT FROM t.{k}" for k in SETTING)


def _rank(rec: Mapping, family: bool = False) -> tuple:
    """Sort key of a candidate setting: finished seeds first, most steps, [most tasks,] most seeds, table3."""
    n = rec.get("n_seeds") or 0
    key = [0 if n > 0 else 1, -(rec.get("steps") or -1)]
    if family:
        key += [-len(rec.get("tasks") or ()), -(rec.get("n_tasks_min") or 0)]
    key += [-n, 0 if rec.get("hparams_source") == "table3" else 1, -(rec.get("eval_episodes") or -1),
            -(rec.get("batch_size") or -1), rec.get("data_route") or "", rec.get("hparams_source") or ""]
    return tuple(key)


def _pick(candidates: list[dict], family: bool = False) -> tuple[dict | None, list[dict]]:
    ordered = sorted(candidates, key=lambda r: _rank(r, family))
    return (ordered[0], ordered[1:]) if ordered else (None, [])


def _paper_scores(con) -> dict[tuple[str, str], dict]:
    return {(r["task"], r["label"]): r for r in _records(con, "SELECT * FROM paper_scores ORDER BY ord")}


def _tasks(con) -> list[dict]:
    return _records(con, "SELECT name, ord, suite, family, paper_family, representative, offline_steps FROM tasks "
                         "ORDER BY ord")


def _our_score(chosen: dict, others: list[dict]) -> OurScore:
    return OurScore(mean=chosen["ours_mean"], std=chosen["ours_std"], n_seeds=chosen["n_seeds"] or 0,
                    setting=Setting.of(chosen), n_unfinished=chosen.get("n_unfinished") or 0,
                    alternatives=[(Setting.of(o), o["ours_mean"], o["ours_std"], o["n_seeds"] or 0) for o in others])


def _mark_ours(paper: dict[str, PaperScore], ours: dict[str, OurScore], digits: int = 1) -> None:
    """Mark our numbers against the row: the paper's baselines with ours in place of its one-step methods."""
    values: dict[str, float | None] = {m: paper[m].mean for m in BASELINES if m in paper}
    if not any(_present(v) for v in values.values()):
        return  # no paper numbers to compare with
    markable = {m: s for m, s in ours.items() if _present(s.mean) and not s.partial}
    values.update({m: round(s.mean, digits) for m, s in markable.items()})
    marks = mark_row(values)
    for m, s in markable.items():
        s.mark = marks[m]


def _paper_cells(records: Mapping[str, Mapping]) -> dict[str, PaperScore]:
    marks = mark_row({m: records[m]["mean"] if m in records else None for m in PAPER_METHODS})
    return {m: PaperScore(records[m]["mean"], records[m]["std"], marks[m], records[m]["mark"]) if m in records
            else PaperScore(None, None, None, None) for m in PAPER_METHODS}


# Table 4
def table4(db_path: Path | str) -> ScoreTable:
    """Per task: the paper's Table 4 (11 methods, marks by the rule) beside our FQL, DROL(16) and DROL."""
    with _connect(db_path) as con:
        tasks = _tasks(con)
        view = _records(con, f"""
            SELECT t.*, s.n_unfinished FROM table4 t
            LEFT JOIN task_scores s
                ON t.n_seeds IS NOT NULL AND s.task = t.task AND s.label = t.label AND {_SAME_SETTING}
            ORDER BY t.task, t.label""")
        checks = _paper_checks(con)
    by_task: dict[str, list[dict]] = {}
    for rec in view:
        by_task.setdefault(rec["task"], []).append(rec)
    rows = []
    for task in tasks:
        recs = by_task.get(task["name"])
        if not recs:
            continue
        paper_recs = {}
        for r in recs:  # the paper's numbers repeat on every setting row of a label
            if r["label"] in PAPER_METHODS:
                paper_recs.setdefault(r["label"], {"mean": r["paper_mean"], "std": r["paper_std"],
                                                   "mark": r["paper_mark"]})
        in_paper = any(r["paper_mean"] is not None for r in recs)
        paper = _paper_cells(paper_recs) if in_paper else {m: PaperScore(None, None, None, None) for m in PAPER_METHODS}
        ours = {}
        for label in OURS:
            chosen, others = _pick([r for r in recs if r["label"] == label and r["n_seeds"] is not None])
            if chosen is None:
                continue
            score = _our_score(chosen, others)
            if _present(score.mean) and _present(paper[label].mean):
                score.delta = score.mean - paper[label].mean
            score.mismatch = _task_mismatch(checks, task["name"], label, score.setting.hparams_source)
            ours[label] = score
        _mark_ours(paper, ours)
        title = task["name"] + (" (*)" if task["representative"] and in_paper else "")
        group = SUITE_TITLES.get(task["suite"], NOT_IN_PAPER) if in_paper else NOT_IN_PAPER
        rows.append(Row(task["name"], group, title, paper, ours, task["offline_steps"]))
    rows.sort(key=lambda r: r.group == NOT_IN_PAPER)  # stable: the paper's order, then ours
    table = ScoreTable("task", rows, [])
    table.notes = _common_notes(table, checks)
    return table


# Table 1
def _family_candidates(con) -> tuple[list[dict], dict[str, int], dict[str, dict]]:
    """Family-level settings of our runs (the `table1` view, plus `family_scores` for families the paper lacks)."""
    sizes = {r["pfam"]: r["n"] for r in _records(
        con, "SELECT coalesce(paper_family, family) AS pfam, count(*) AS n FROM tasks GROUP BY ALL")}
    info = {r["pfam"]: r for r in _records(
        con, "SELECT coalesce(paper_family, family) AS pfam, min(ord) AS ord, any_value(suite) AS suite, "
             "bool_and(paper_family IS NULL) AS not_in_paper FROM tasks GROUP BY ALL")}
    coverage = {}
    for r in _records(con, f"""
            SELECT coalesce(paper_family, family) AS pfam, label, {', '.join(SETTING)},
                   list(DISTINCT task ORDER BY task) AS tasks,
                   count(*) FILTER (WHERE status <> 'finished') AS n_unfinished
            FROM labelled_runs WHERE label IN ({_OURS_SQL}) GROUP BY ALL"""):
        coverage[(r["pfam"], r["label"], Setting.of(r))] = r
    finished = {}
    for r in _records(con, f"""
            SELECT coalesce(paper_family, family) AS pfam, label, {', '.join(SETTING)},
                   list(DISTINCT task ORDER BY task) AS tasks
            FROM labelled_runs WHERE label IN ({_OURS_SQL}) AND status = 'finished' GROUP BY ALL"""):
        finished[(r["pfam"], r["label"], Setting.of(r))] = r["tasks"]
    rows = _records(con, f"SELECT *, family AS pfam FROM table1 WHERE label IN ({_OURS_SQL}) AND n_seeds IS NOT NULL")
    rows += _records(con, f"""
        SELECT suite, family, family AS pfam, label, {', '.join(SETTING)}, mean AS ours_mean, std AS ours_std, n_seeds,
               n_tasks_min, n_tasks_max, NULL AS paper_mean
        FROM family_scores WHERE label IN ({_OURS_SQL})
          AND family IN (SELECT family FROM tasks WHERE paper_family IS NULL)""")
    for r in rows:
        key = (r["pfam"], r["label"], Setting.of(r))
        r["tasks"] = tuple(finished.get(key, ()))
        r["n_unfinished"] = (coverage.get(key) or {}).get("n_unfinished", 0)
    # Settings whose runs are all unfinished have no row in the views: list them (no number) all the same.
    seen = {(r["pfam"], r["label"], Setting.of(r)) for r in rows}
    for key, r in coverage.items():
        if key not in seen and r["n_unfinished"]:
            rows.append({**{k: r[k] for k in ("pfam", "label", *SETTING)}, "ours_mean": None, "ours_std": None,
                         "n_seeds": 0, "n_tasks_min": 0, "n_tasks_max": 0, "tasks": (),
                         "n_unfinished": r["n_unfinished"]})
    rows.sort(key=lambda r: (r["pfam"], r["label"], _rank(r, True)))
    return rows, sizes, info


def table1(db_path: Path | str) -> ScoreTable:
    """Per family of the paper's Table 1: the paper's 11 methods beside our FQL, DROL(16) and DROL."""
    with _connect(db_path) as con:
        candidates, sizes, info = _family_candidates(con)
        paper_t1 = _records(con, "SELECT * FROM paper_family_scores ORDER BY ord")
        paper_t4 = _paper_scores(con)
        checks = _paper_checks(con)
    families: dict[str, dict] = {}
    for r in paper_t1:
        families.setdefault(r["family"], {"suite": r["suite"], "n_tasks": r["n_tasks"], "paper": {}})
        families[r["family"]]["paper"][r["label"]] = r
    for r in candidates:  # families we ran that the paper's Table 1 lacks (the toy task)
        if r["pfam"] not in families:
            families[r["pfam"]] = {"suite": None, "n_tasks": sizes.get(r["pfam"]), "paper": {}}
    rows = []
    for fam, entry in families.items():
        in_paper = bool(entry["paper"])
        paper = _paper_cells(entry["paper"]) if in_paper else {m: PaperScore(None, None, None, None)
                                                                 for m in PAPER_METHODS}
        ours = {}
        for label in OURS:
            chosen, others = _pick([r for r in candidates if r["pfam"] == fam and r["label"] == label], family=True)
            if chosen is None:
                continue
            score = _our_score(chosen, others)
            score.tasks, score.family_tasks = tuple(chosen["tasks"]), sizes.get(fam)
            reasons = {t: _task_mismatch(checks, t, label, score.setting.hparams_source) for t in score.tasks}
            reasons = {t: r for t, r in reasons.items() if r}
            if reasons:
                score.mismatch = f"on {len(reasons)} of its tasks (" + "; ".join(
                    f"{t}: {r}" for t, r in reasons.items()) + ")"
            score.partial = len(score.tasks) < (score.family_tasks or 0) or \
                (chosen.get("n_tasks_min") or 0) < len(score.tasks)
            if _present(score.mean):
                if not score.partial and _present(paper[label].mean):
                    score.delta = score.mean - paper[label].mean
                elif score.partial and score.tasks:
                    same = [paper_t4.get((t, label), {}).get("mean") for t in score.tasks]
                    if all(_present(v) for v in same):
                        score.delta = score.mean - float(np.mean(same))
            ours[label] = score
        _mark_ours(paper, ours)
        size = entry["n_tasks"] or sizes.get(fam)
        title = f"{fam} ({size} task{'s' if size != 1 else ''})" if size else fam
        group = SUITE_TITLES.get((entry["suite"] or "").lower(), NOT_IN_PAPER) if in_paper else NOT_IN_PAPER
        rows.append(Row(fam, group, title, paper, ours))
    rows.sort(key=lambda r: r.group == NOT_IN_PAPER)
    table = ScoreTable("family", rows, [])
    table.notes = _common_notes(table, checks)
    return table


# The paper's own inconsistencies, checked from the database's reference tables
def _paper_checks(con) -> dict:
    tasks = _tasks(con)
    order = {t["name"]: t["ord"] for t in tasks}
    family_of = {t["name"]: t["family"] for t in tasks}
    paper = _paper_scores(con)
    hp = {(r["task"], r["label"], r["source"]): r for r in _records(con, "SELECT * FROM hparams")}

    def config(task, label, source):
        row = hp.get((task, label, source)) or hp.get((task, label, "table3"))
        return None if row is None else row["overrides"]

    def numbers(task, label):
        r = paper.get((task, label))
        return None if r is None or r["mean"] is None else (r["mean"], r["std"])

    def pair(task):
        a, b = numbers(task, "DROL(16)"), numbers(task, "DROL")
        return f"{_paper_text(*a)} vs {_paper_text(*b)}" if a and b else MISSING

    # 1. Table 3 against the released script (hparams rows with source = 'script').
    script = sorted((r for r in hp.values() if r["source"] == "script"),
                    key=lambda r: (order.get(r["task"], 0), r["label"]))
    provenance = []
    for s in script:
        t3 = hp[(s["task"], s["label"], "table3")]
        a, b = numbers(s["task"], "DROL(16)"), numbers(s["task"], "DROL")
        verdict = MISSING
        if a and b:
            equal_numbers = a == b
            consistent = {src: (config(s["task"], "DROL(16)", src) == config(s["task"], "DROL", src)) == equal_numbers
                          for src in ("table3", "script")}
            verdict = {(True, False): "Table 3", (False, True): "script", (True, True): "both",
                       (False, False): "neither"}[(consistent["table3"], consistent["script"])]
        provenance.append({"task": s["task"], "label": s["label"], "table3": (t3["coef"], t3["K"]),
                           "script": (s["coef"], s["K"]), "paper": pair(s["task"]), "agrees_with": verdict})

    # 2. Families where DROL's K differs from DROL(16)'s on every task but the paper's numbers are identical.
    fam_tasks: dict[str, list[str]] = {}
    for t in tasks:
        if (t["name"], "DROL") in paper:
            fam_tasks.setdefault(t["family"], []).append(t["name"])
    copied = []
    paper_fam = {t["family"]: t["paper_family"] for t in tasks}
    table1 = {(r["family"], r["label"]): r for r in _records(con, "SELECT * FROM paper_family_scores")}
    for fam, names in fam_tasks.items():
        ks = {(hp[(n, "DROL(16)", "table3")]["K"], hp[(n, "DROL", "table3")]["K"],
               (hp.get((n, "DROL", "script")) or hp[(n, "DROL", "table3")])["K"]) for n in names}
        if all(k16 != k and k16 != ks_ for k16, k, ks_ in ks) and \
                all(numbers(n, "DROL(16)") == numbers(n, "DROL") for n in names):
            copied.append({"family": fam, "tasks": names, "K": sorted(ks),
                           "task_K": {n: {"table3": hp[(n, "DROL", "table3")]["K"],
                                          "script": (hp.get((n, "DROL", "script")) or hp[(n, "DROL", "table3")])["K"]}
                                      for n in names},
                           "numbers": [_paper_text(*numbers(n, "DROL")) for n in names],
                           "table1": {label: (_paper_text(r["mean"], r["std"]) if r else MISSING)
                                      for label in ("DROL(16)", "DROL")
                                      for r in [table1.get((paper_fam.get(fam), label))]},
                           "paper_family": paper_fam.get(fam)})

    # 3. Tasks where Table 3 gives DROL(16) and DROL one configuration but the paper's numbers differ.
    same_config = []
    for t in tasks:
        n = t["name"]
        a, b = numbers(n, "DROL(16)"), numbers(n, "DROL")
        if a and b and a != b and config(n, "DROL(16)", "table3") == config(n, "DROL", "table3"):
            t3 = hp[(n, "DROL", "table3")]
            same_config.append({"task": n, "family": t["family"], "config": (t3["coef"], t3["K"]), "drol16": a,
                                "drol": b, "gap": b[0] - a[0],
                                "script_differs": config(n, "DROL(16)", "script") != config(n, "DROL", "script")})

    # 4. Table 1 against the mean of Table 4 over each family's tasks.
    t1_vs_t4 = []
    members: dict[str, list[str]] = {}
    for t in tasks:
        if t["paper_family"]:
            members.setdefault(t["paper_family"], []).append(t["name"])
    for r in _records(con, "SELECT * FROM paper_family_scores ORDER BY ord"):
        vals = [paper.get((n, r["label"]), {}).get("mean") for n in members.get(r["family"], [])]
        if r["mean"] is None or not vals or not all(_present(v) for v in vals):
            continue
        mean = float(np.mean(vals))
        diff = mean - r["mean"]
        if abs(diff) >= ROUNDING_TOL - 1e-9:
            t1_vs_t4.append({"family": r["family"], "label": r["label"], "table1": r["mean"], "table4_mean": mean,
                             "diff": diff, "at_bound": abs(diff) <= ROUNDING_TOL + 1e-9, "n": len(vals)})

    # 5. The mark rule against the printed marks.
    mark_check = {}
    for name, key, sql in (("Table 4", "task", "SELECT task AS k, label, mean, mark FROM paper_scores"),
                           ("Table 1", "family", "SELECT family AS k, label, mean, mark FROM paper_family_scores")):
        recs = _records(con, sql)
        rows: dict[str, dict] = {}
        for r in recs:
            rows.setdefault(r["k"], {})[r["label"]] = r
        mismatches = 0
        for k, row in rows.items():
            marks = mark_row({m: r["mean"] for m, r in row.items()})
            mismatches += sum(marks[m] != r["mark"] for m, r in row.items())
        mark_check[name] = (len(recs), mismatches)
    return {"provenance": provenance, "copied": copied, "same_config": same_config, "t1_vs_t4": t1_vs_t4,
            "marks": mark_check, "family_of": family_of}


def _task_mismatch(checks: dict, task: str, label: str, source: str | None) -> str | None:
    """Why the paper's number of (task, label) comes from another configuration than our runs with `source`."""
    for p in checks["provenance"]:
        if p["task"] == task and p["label"] == label:
            if p["agrees_with"] == "script" and source != "script":
                return (f"the paper's number agrees with the released script's (α, K) = {_pair_text(p['script'])}, "
                        f"ours ran Table 3's {_pair_text(p['table3'])}")
            if p["agrees_with"] == "Table 3" and source == "script":
                return (f"the paper's number agrees with Table 3's (α, K) = {_pair_text(p['table3'])}, ours ran "
                        f"the script's {_pair_text(p['script'])}")
    if label == "DROL":
        for c in checks["copied"]:
            if task in c["tasks"]:
                k = c["task_K"][task]["script" if source == "script" else "table3"]
                return f"the paper's DROL number is its DROL(16) number (K = 16), ours ran K = {k}"
    return None


def paper_inconsistencies(db_path: Path | str) -> list[str]:
    """The paper-internal disagreements found from the database's reference tables, one line each."""
    with _connect(db_path) as con:
        checks = _paper_checks(con)
    return [_plain(item) for _, items in _inconsistency_notes(checks) for item in items]


def _inconsistency_notes(checks: dict) -> list[tuple[str, list[str | NoteTable]]]:
    notes: list[tuple[str, list[str | NoteTable]]] = []
    prov = checks["provenance"]
    if prov:
        sides = {}
        for p in prov:
            sides.setdefault(p["agrees_with"], []).append(p)
        summary = "; ".join(f"{v}: {len(ps)}" for v, ps in sorted(sides.items()))
        notes.append(("The paper's Table 3 against its released production script", [
            f"Table 3 and the released script give different (α, K) on {len(prov)} rows (hparams rows with "
            f"source = 'script'). Which one the paper's Table 4 agrees with is inferred from its numbers: on D4RL "
            f"the paper prints identical DROL(16) and DROL numbers wherever the two labels share a configuration, "
            f"so equal configurations should show equal numbers and different ones different numbers "
            f"({summary}). Our runs use Table 3 unless hparams_source = script (see the settings notes).",
            NoteTable(["Task", "Label", "Table 3 (α, K)", "Script (α, K)", "Paper DROL(16) vs DROL",
                       "Table 4 agrees with"],
                      [[p["task"], p["label"], _pair_text(p["table3"]), _pair_text(p["script"]), p["paper"],
                        p["agrees_with"]] for p in prov])]))
    for c in checks["copied"]:
        ks = sorted({x for _, k, k_script in c["K"] for x in (k, k_script)})
        notes.append((f"{c['family']}: the paper's DROL column equals DROL(16)", [
            f"On every {c['family']} task ({len(c['tasks'])}) the paper's DROL numbers equal its DROL(16) numbers "
            f"(mean and std: {', '.join(c['numbers'])}), and so do its Table 1 numbers for {c['paper_family']} "
            f"({c['table1']['DROL(16)']} and {c['table1']['DROL']}), although Table 3 and the released script give "
            f"DROL K = {', '.join(str(k) for k in ks)} (DROL(16): K = 16). The paper's DROL column there appears to be "
            f"DROL(16)'s runs; our DROL runs use K = {ks[0] if len(ks) == 1 else ks}, so their Δ compares "
            f"different K."]))
    same = [s for s in checks["same_config"] if not s["script_differs"]]
    if same:
        big = max(same, key=lambda s: abs(s["gap"]))
        fams = sorted({s["family"] for s in same})
        notes.append(("Same configuration, different numbers in the paper", [
            f"On {len(same)} tasks ({', '.join(fams)}) Table 3 gives DROL(16) and DROL the same (α, K) yet the "
            f"paper's numbers differ (largest gap {_signed(big['gap'], 0)} on {big['task']}: "
            f"{_paper_text(*big['drol16'])} vs {_paper_text(*big['drol'])}). These are evidently separate runs of "
            f"one configuration, so gaps of this size are run-to-run variation: a scale for reading Δ.",
            NoteTable(["Task", "(α, K)", "Paper DROL(16)", "Paper DROL", "Gap (DROL - DROL(16))"],
                      [[s["task"], _pair_text(s["config"]), _paper_text(*s["drol16"]), _paper_text(*s["drol"]),
                        _signed(s["gap"], 0)] for s in same])]))
    diffs = checks["t1_vs_t4"]
    if diffs:
        notes.append(("Table 1 against the mean of Table 4", [
            "Table 1 should equal the mean of Table 4 over the family's tasks; both are rounded to integers, so "
            f"they can differ by at most {ROUNDING_TOL:g} (exactly {ROUNDING_TOL:g} only if every rounding went "
            "0.5 the same way). Beyond or at that bound:",
            NoteTable(["Family", "Method", "Table 1", "Mean of Table 4", "Difference"],
                      [[d["family"], d["label"], _num(d["table1"], 0), f"{d['table4_mean']:.1f} ({d['n']} tasks)",
                        _signed(d["table4_mean"] - d["table1"], 1) + (" (at the rounding bound)" if d["at_bound"]
                                                                      else " (beyond rounding)")]
                       for d in diffs])]))
    return notes


# Notes shared by both tables
def _common_notes(table: ScoreTable, checks: dict) -> list[tuple[str, list]]:
    notes: list[tuple[str, list]] = []
    what = "task" if table.kind == "task" else "family"
    rules = [FINAL_RULE]
    if table.kind == "task":
        rules.append("Per task: mean ± sample std over seeds; n = finished seeds; 7/8 means that 1 more run did "
                     "not finish (diverged, interrupted or still running) and is not averaged.")
    else:
        rules.append("Per family: for each seed the mean over the family's tasks, then mean ± sample std over "
                     "seeds (this reproduces the paper's ± values); n = seeds; 'Our tasks' = tasks our runs "
                     "cover of the family's. † = not every task covered (or seeds cover different tasks): Δ "
                     "is then against the mean of the paper's Table 4 numbers over the tasks we ran, and the "
                     "cell is not marked.")
    rules.append("Δ = ours - paper in score points (ours unrounded, the paper's as printed), signed; – = no "
                 "number (not run, or not reported by the paper, e.g. SORL on puzzle and D4RL; the paper gives "
                 "no std for BC, IQL and ReBRAC on D4RL).")
    t4_total, t4_bad = checks["marks"]["Table 4"]
    t1_total, t1_bad = checks["marks"]["Table 1"]
    agreement = (f"agree with the printed marks on all {t4_total} Table 4 and all {t1_total} Table 1 cells"
                 if t4_bad == t1_bad == 0 else
                 f"differ from the printed ones on {t4_bad} of {t4_total} Table 4 and {t1_bad} of {t1_total} "
                 "Table 1 cells")
    rules.append(f"Marks: bold = at least {MARK_RATIO:g} x the best number of the row; underlined = bold and "
                 f"one-step (FQL, DROL(16), DROL). The paper's marks recomputed by this rule {agreement}. Our "
                 "numbers (rounded to 0.1) are marked against the row with ours in place of the paper's FQL, "
                 "DROL(16) and DROL.")
    rules.append("One run stands for every label whose configuration it has: where the family's tuned K is 16 "
                 "(and Table 3 gives both labels one α), our DROL and DROL(16) numbers are the same runs.")
    rules.append(f"Where the database holds several settings (training steps, batch size, evaluation episodes, "
                 f"hparams source, data route) of one {what} and method, the table shows the one with the most "
                 "steps, then the most " + ("tasks covered, then the most seeds" if table.kind == "family" else "seeds")
                 + "; the others are listed under 'Our runs' below. Settings are never averaged together.")
    notes.append(("Rules", rules))

    # Settings of our numbers and which data route produced them.
    shown: dict[Setting, list[str]] = {}
    alternatives, unfinished, short, mismatched = [], [], [], []
    for row in table.rows:
        for label, s in row.ours.items():
            shown.setdefault(s.setting, []).append(f"{row.key} {label}")
            if s.mismatch:
                mismatched.append(f"{row.key} {label}: {s.mismatch}")
            if s.alternatives:
                alt = "; ".join(f"{a.describe(s.setting)}: {_ours_text(m, sd)} (n = {n})"
                                for a, m, sd, n in s.alternatives)
                alternatives.append(f"{row.key} {label}: shown {_steps_text(s.setting.steps)} steps, n = "
                                    f"{s.n_seeds}; also {alt}")
            if s.n_unfinished:
                unfinished.append(f"{row.key} {label}: {s.n_unfinished}")
            if row.paper_steps and s.setting.steps and s.setting.steps != row.paper_steps:
                short.append(f"{row.key} {label}")
    settings: list = []
    if shown:
        settings.append(f"Our numbers come from {len(shown)} setting(s) (one per {what} and method; the data route "
                        "says how each dataset was obtained):")
        listing = []
        for setting in sorted(shown, key=lambda s: tuple(_text(v) for v in (s.steps, s.data_route, s.hparams_source,
                                                                           s.eval_episodes, s.batch_size))):
            cells = shown[setting]
            listed = ", ".join(cells) if len(cells) <= 12 else f"{len(cells)} {what}-method cells"
            listing.append(f"{setting.describe()}: {listed}.")
        settings.append(listing)
        routes = sorted({s.data_route for s in shown if s.data_route})
        if routes:
            settings.append("Data routes: " + "; ".join(f"{r} = {ROUTES.get(r, 'as recorded in run.json')}"
                                                       for r in routes) + ".")
        if short and table.kind == "task":
            settings.append(f"{len(short)} of our {what}-method cells ran fewer updates than the paper (1M OGBench, "
                            "500k D4RL): their Δ compares different training lengths.")
    else:
        settings.append("The database holds no finished run of FQL, DROL(16) or DROL: every 'ours' cell is –.")
    if alternatives:
        settings.append(f"Several settings in the database for one {what} and method: the table shows the one with "
                        "the most steps, then the most " + ("tasks, then the most seeds" if table.kind == "family"
                                                             else "seeds") + "; the others:")
        settings.append(alternatives)
    if unfinished:
        settings.append(f"Runs not finished (diverged, interrupted or running; listed, not averaged) per {what} "
                        "and method:")
        settings.append(unfinished)
    if mismatched:
        settings.append("‡ = the paper's number and ours come from different configurations (see the paper's "
                        "inconsistencies below), so that Δ is not like for like:")
        settings.append(mismatched)
    notes.append(("Our runs: settings and data routes", settings))
    notes.extend(_inconsistency_notes(checks))
    return notes


# Statistics
def iqm(scores: Iterable[float] | np.ndarray) -> float:
    """Interquartile mean: the mean of the middle 50 % (scipy.stats.trim_mean, 25 % cut per side, as rliable)."""
    return float(sps.trim_mean(np.asarray(scores, dtype=float).ravel(), 0.25))


def _iqm_statistic(*samples, axis=-1):
    return sps.trim_mean(np.concatenate(samples, axis=axis), 0.25, axis=axis)


def performance_profile(strata: Sequence[Sequence[float]], taus: Sequence[float] = TAUS) -> np.ndarray:
    """Fraction of all runs (every task's seeds) with score > tau, for each tau."""
    scores = np.concatenate([np.asarray(s, dtype=float).ravel() for s in strata])
    return (scores[None, :] > np.asarray(taus, dtype=float)[:, None]).mean(axis=1)


def _profile_statistic(taus: np.ndarray) -> Callable:
    def statistic(*samples, axis=-1):
        scores = np.moveaxis(np.concatenate(samples, axis=axis), axis, -1)
        return (scores[None, ...] > taus.reshape((-1,) + (1,) * scores.ndim)).mean(axis=-1)
    return statistic


def stratified_bootstrap_ci(strata: Sequence[Sequence[float]], statistic: Callable = _iqm_statistic,
                            confidence: float = CONFIDENCE, n_resamples: int = N_RESAMPLES,
                            seed: int = BOOTSTRAP_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval of `statistic` with runs resampled within each stratum (task).

    scipy.stats.bootstrap with one sample per stratum and paired=False resamples each sample with
    replacement independently: rliable's stratified bootstrap. `statistic(*samples, axis=-1)` must be
    vectorised; a vector-valued statistic gives vector bounds. Every stratum needs >= 2 runs (ValueError).
    """
    data = [np.asarray(s, dtype=float).ravel() for s in strata]
    if not data or min(len(d) for d in data) < 2:
        raise ValueError("a stratified bootstrap needs at least 2 runs (seeds) in every stratum (task)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=sps.DegenerateDataWarning)
        res = sps.bootstrap(data, statistic, n_resamples=n_resamples, confidence_level=confidence,
                            method="percentile", paired=False, vectorized=True, batch=1000,
                            rng=np.random.default_rng(seed))
    return np.asarray(res.confidence_interval.low), np.asarray(res.confidence_interval.high)


@dataclass
class FamilyStats:
    family: str
    group: str
    method: str
    setting: Setting
    strata: dict[str, list[float]]  # task -> final scores of its finished seeds
    family_tasks: int
    iqm: float
    mean: float
    ci: tuple[float, float] | None
    ci_note: str
    profile: np.ndarray
    profile_ci: tuple[np.ndarray, np.ndarray] | None


def family_statistics(db_path: Path | str, n_resamples: int = N_RESAMPLES,
                      seed: int = BOOTSTRAP_SEED) -> list[FamilyStats]:
    """Per family (the paper's Table 1 families) and our method: IQM, stratified bootstrap CI, profile.

    The runs are those of the setting Table 1 shows for the family and method (finished runs only).
    """
    with _connect(db_path) as con:
        candidates, sizes, info = _family_candidates(con)
        runs = _records(con, f"""
            SELECT coalesce(paper_family, family) AS pfam, label, task, seed, score, {', '.join(SETTING)}
            FROM labelled_runs WHERE label IN ({_OURS_SQL}) AND status = 'finished' AND score IS NOT NULL
            ORDER BY pfam, label, task, seed""")
    out = []
    families = sorted({r["pfam"] for r in candidates},
                      key=lambda f: (info.get(f, {}).get("not_in_paper", True), info.get(f, {}).get("ord", 0), f))
    taus = np.asarray(TAUS, dtype=float)
    for fam in families:
        for label in OURS:
            chosen, _ = _pick([r for r in candidates if r["pfam"] == fam and r["label"] == label], family=True)
            if chosen is None or not chosen["n_seeds"]:
                continue
            setting = Setting.of(chosen)
            strata: dict[str, list[float]] = {}
            for r in runs:
                if r["pfam"] == fam and r["label"] == label and Setting.of(r) == setting:
                    strata.setdefault(r["task"], []).append(float(r["score"]))
            if not strata:
                continue
            samples = [strata[t] for t in sorted(strata)]
            ci, profile_ci, note = None, None, ""
            try:
                low, high = stratified_bootstrap_ci(samples, n_resamples=n_resamples, seed=seed)
                ci = (float(low), float(high))
                profile_ci = stratified_bootstrap_ci(samples, _profile_statistic(taus), n_resamples=n_resamples,
                                                     seed=seed)
            except ValueError:
                note = "no CI: a task has 1 seed"
            meta = info.get(fam, {})
            group = NOT_IN_PAPER if meta.get("not_in_paper", True) else SUITE_TITLES.get(meta.get("suite"), "")
            out.append(FamilyStats(fam, group, label, setting, {t: strata[t] for t in sorted(strata)},
                                   sizes.get(fam, len(strata)), iqm(np.concatenate(samples)),
                                   float(np.mean(np.concatenate(samples))), ci, note,
                                   performance_profile(samples, taus), profile_ci))
    return out


# Formatting helpers
def _text(value) -> str:
    return MISSING if value is None else str(value)


def _steps_text(steps: int | None) -> str:
    if steps is None:
        return MISSING
    if steps >= 1_000_000 and steps % 1_000_000 == 0:
        return f"{steps // 1_000_000}M"
    if steps >= 1000 and steps % 1000 == 0:
        return f"{steps // 1000}k"
    return str(steps)


def _num(value: float | None, digits: int) -> str:
    if not _present(value):
        return MISSING
    text = f"{value:.{digits}f}"
    return "0" + ("." + "0" * digits if digits else "") if float(text) == 0 else text  # no "-0.0"


def _signed(value: float | None, digits: int = 1) -> str:
    if not _present(value):
        return MISSING
    text = _num(value, digits)
    return text if float(text) == 0 or text.startswith("-") else "+" + text


def _paper_text(mean, std) -> str:
    return _num(mean, 0) + (f" ± {_num(std, 0)}" if _present(std) else "")


def _ours_text(mean, std) -> str:
    return _num(mean, 1) + (f" ± {_num(std, 1)}" if _present(std) else "")


def _pair_text(pair) -> str:
    coef, k = pair
    return f"({coef:g}, {k})"


def _plain(item) -> str:
    if isinstance(item, NoteTable):
        return " | ".join(" / ".join(row) for row in item.rows)
    return item


# Document model shared by the three renderers
@dataclass
class Column:
    name: str  # under its group (LaTeX/HTML)
    group: str = ""  # spanning header (LaTeX/HTML); Markdown writes "group name"
    align: str = "r"

    @property
    def full(self) -> str:
        return f"{self.group} {self.name}".strip() if self.group not in ("", "Paper") else self.name


@dataclass
class Cell:
    main: str = MISSING
    rest: str = ""
    bold: bool = False
    underline: bool = False


@dataclass
class Document:
    title: str
    intro: list[str]
    columns: list[Column]
    blocks: list[tuple[str, list[list[Cell]]]]
    notes: list[tuple[str, list[str | NoteTable]]]
    label: str | None = None
    legend: bool = False  # print the meaning of bold and underlined, styled, after the intro


LEGEND = (("Bold", f": at least {MARK_RATIO:g} x the best number of the row; "),
          ("underlined", ": bold and a one-step method (FQL, DROL(16), DROL)."))


def _mark_cell(main: str, rest: str, mark: str | None) -> Cell:
    return Cell(main, rest, bold=mark in ("b", "u"), underline=mark == "u")


def _joined(values: list[str]) -> str:
    """One value when the methods agree, else 'a / b / c' in the order FQL / DROL(16) / DROL."""
    present = [v for v in values if v != MISSING]
    if not present:
        return MISSING
    return present[0] if len(set(present)) == 1 else " / ".join(values)


def _score_document(table: ScoreTable, label: str | None) -> Document:
    family = table.kind == "family"
    first = "Family" if family else "Task"
    columns = [Column(first, align="l")]
    columns += [Column(m, "Paper") for m in BASELINES]
    for m in OURS:
        columns += [Column("paper", m), Column("ours", m), Column("Δ", m), Column("n", m)]
    columns += ([Column("Our tasks")] if family else []) + [Column("Our steps"), Column("Our data route", align="l")]
    blocks: dict[str, list[list[Cell]]] = {}
    for row in table.rows:
        cells = [Cell(row.title)]
        for m in BASELINES:
            p = row.paper[m]
            cells.append(_mark_cell(_num(p.mean, 0), f" ± {_num(p.std, 0)}" if _present(p.std) else "", p.mark)
                         if _present(p.mean) else Cell())
        for m in OURS:
            p, o = row.paper[m], row.ours.get(m)
            cells.append(_mark_cell(_num(p.mean, 0), f" ± {_num(p.std, 0)}" if _present(p.std) else "", p.mark)
                         if _present(p.mean) else Cell())
            if o is None or not _present(o.mean):
                unfinished = o is not None and o.n_unfinished and not family
                cells += [Cell(), Cell(), Cell(f"0/{o.n_unfinished}" if unfinished else MISSING)]
                continue
            cells.append(_mark_cell(_num(o.mean, 1), f" ± {_num(o.std, 1)}" if _present(o.std) else "", o.mark))
            flags = ("†" if o.partial else "") + ("‡" if o.mismatch else "")
            cells.append(Cell(_signed(o.delta, 1) + (flags if _present(o.delta) else "")))
            n = f"{o.n_seeds}/{o.n_seeds + o.n_unfinished}" if (o.n_unfinished and not family) else str(o.n_seeds)
            cells.append(Cell(n))
        ours = [row.ours.get(m) for m in OURS]
        steps = _joined([_steps_text(o.setting.steps) if o and _present(o.mean) else MISSING for o in ours])
        routes = _joined([o.setting.data_route or MISSING if o and _present(o.mean) else MISSING for o in ours])
        if family:
            size = next((o.family_tasks for o in ours if o and o.family_tasks), None)
            cover = _joined([f"{len(o.tasks)}/{size}" if o and _present(o.mean) else MISSING for o in ours])
            cells += [Cell(cover), Cell(steps), Cell(routes)]
        else:
            cells += [Cell(steps), Cell(routes)]
        blocks.setdefault(row.group, []).append(cells)
    which = "Table 1 (per family)" if family else "Table 4 (per task)"
    intro = [
        f"The paper's {which}, all 11 methods as printed (mean ± std), beside our runs of FQL, DROL(16) and "
        f"DROL: for each of these, the paper's number, ours (mean ± std over n seeds of the final score), "
        "Δ = ours - paper, and n. Scores x 100 (OGBench: success rate; D4RL: normalised return). – = no number "
        "(not run, or not in the paper)." + ("" if family else " (*) = the task on which the paper tuned K."),
    ]
    scores = [o for row in table.rows for o in row.ours.values() if _present(o.delta)]
    flags = []
    if any(o.partial for o in scores):
        flags.append("† = our runs cover only part of the family: Δ is against the mean of the paper's Table 4 "
                     "numbers over the same tasks (not the Table 1 number beside it), and the cell is not marked.")
    if any(o.mismatch for o in scores):
        flags.append("‡ = the paper's number comes from another configuration than ours (see the notes).")
    if flags:
        intro.append(" ".join(flags))
    title = "Table 1: per-family scores, ours beside the paper" if family else \
        "Table 4: per-task scores, ours beside the paper"
    return Document(title, intro, columns, list(blocks.items()), table.notes, label, legend=True)


def _stats_document(stats: list[FamilyStats], label: str | None) -> Document:
    columns = [Column("Family", align="l"), Column("Method", align="l"), Column("Tasks"), Column("Seeds per task"),
               Column("Runs"), Column("IQM"), Column("95% CI"), Column("Mean"), Column("Steps"),
               Column("Data route", align="l")]
    blocks: dict[str, list[list[Cell]]] = {}
    for s in stats:
        seeds = sorted({len(v) for v in s.strata.values()})
        ci = f"[{_num(s.ci[0], 1)}, {_num(s.ci[1], 1)}]" if s.ci else s.ci_note
        blocks.setdefault(s.group, []).append([
            Cell(s.family), Cell(s.method), Cell(f"{len(s.strata)}/{s.family_tasks}"),
            Cell(str(seeds[0]) if len(seeds) == 1 else f"{seeds[0]} to {seeds[-1]}"),
            Cell(str(sum(len(v) for v in s.strata.values()))), Cell(_num(s.iqm, 1)), Cell(ci), Cell(_num(s.mean, 1)),
            Cell(_steps_text(s.setting.steps)), Cell(s.setting.data_route or MISSING)])
    intro = [
        "Per family and method, over the final scores of our finished runs (every task's seeds): the "
        "interquartile mean (IQM: the mean of the middle 50 % of runs, scipy.stats.trim_mean with 25 % cut "
        "per side, as rliable) with a 95 % stratified bootstrap interval (scipy.stats.bootstrap, percentile "
        f"method, {N_RESAMPLES} resamples, seed {BOOTSTRAP_SEED}; each task's seeds resampled with replacement "
        "within the task, as rliable's stratified bootstrap), and the plain mean over runs.",
        "The runs are those of the setting Table 1 shows for the family and method. A CI needs at least 2 seeds "
        "on every task. Performance profiles (fraction of runs with score > tau, tau = 0..100, with the same "
        "bootstrap's 95 % interval) are in profiles.csv.",
        FINAL_RULE,
    ]
    return Document("Per-family statistics of our runs: IQM and stratified bootstrap CIs", intro, columns,
                    list(blocks.items()), [], label)


# Renderers
def render_markdown(doc: Document) -> str:
    out = [f"# {doc.title}", ""]
    if doc.label:
        out += [f"> **{doc.label}**", ""]
    for para in doc.intro:
        out += [para, ""]
    if doc.legend:
        (bold, bold_text), (under, under_text) = LEGEND
        out += [f"**{bold}**{bold_text}<ins>**{under}**</ins>{under_text}", ""]
    for title, rows in doc.blocks:
        out += [f"## {title}", "", *_md_table([c.full for c in doc.columns], [[_md_cell(c) for c in r] for r in rows],
                                               [c.align for c in doc.columns]), ""]
    if not doc.blocks:
        out += ["(no rows)", ""]
    if doc.notes:
        out += ["## Notes", ""]
        for heading, items in doc.notes:
            out += [f"### {heading}", ""]
            for item in items:
                if isinstance(item, NoteTable):
                    out += ["", *_md_table(item.header, item.rows, ["l"] * len(item.header)), ""]
                elif isinstance(item, list):
                    out += [f"  - {sub}" for sub in item]
                else:
                    out.append(f"- {item}")
            out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def _md_cell(cell: Cell) -> str:
    """Bold as **...**; underlined as <ins>...</ins>, which GitHub and most Markdown renderers show underlined."""
    main = cell.main
    if cell.bold:
        main = f"**{main}**"
    if cell.underline:
        main = f"<ins>{main}</ins>"
    return (main + cell.rest).replace("|", "\\|")


def _md_table(header: list[str], rows: list[list[str]], align: list[str]) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    widths = [max(w, 3) for w in widths]

    def line(values):
        return "| " + " | ".join(str(v).ljust(w) if a == "l" else str(v).rjust(w)
                                 for v, w, a in zip(values, widths, align)) + " |"

    rule = "|" + "|".join((":" + "-" * (w + 1)) if a == "l" else ("-" * (w + 1) + ":")
                          for w, a in zip(widths, align)) + "|"
    return [line(header), rule, *(line(r) for r in rows)]


_TEX = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
        "^": r"\textasciicircum{}", "\\": r"\textbackslash{}", "±": r"$\pm$", "–": "--", "Δ": r"$\Delta$",
        "α": r"$\alpha$", "×": r"$\times$", "≥": r"$\geq$", "†": r"$^\dagger$", "‡": r"$^\ddagger$", '"': "''",
        "τ": r"$\tau$",
        "<": r"\textless{}", ">": r"\textgreater{}"}


def _tex(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in text)


def _tex_cell(cell: Cell) -> str:
    main = _tex(cell.main)
    if main[:1] in "+-" and main[1:2].isdigit():
        main = f"${main[0]}${main[1:]}"
    if cell.bold:
        main = f"\\textbf{{{main}}}"
    if cell.underline:
        main = f"\\underline{{{main}}}"
    return main + _tex(cell.rest)


def render_latex(doc: Document) -> str:
    ncol = len(doc.columns)
    out = [f"% {doc.title}", "% Written by drol.reports.tables from results.duckdb; needs \\usepackage{booktabs} and "
           "\\usepackage{graphicx}."]
    if doc.label:
        out.append(f"% {doc.label}")
    out += ["\\begin{table*}[p]", "\\centering", "\\small"]
    if doc.label:
        out += [f"\\fbox{{\\parbox{{0.95\\textwidth}}{{\\centering\\textbf{{{_tex(doc.label)}}}}}}}\\par\\medskip"]
    caption = f"{_tex(doc.title)}. {_tex(doc.intro[0]) if doc.intro else ''}"
    if doc.legend:
        (bold, bold_text), (under, under_text) = LEGEND
        caption += (f" \\textbf{{{bold}}}{_tex(bold_text)}\\protect\\underline{{\\textbf{{{under}}}}}"
                    f"{_tex(under_text)}")
    out.append(f"\\caption{{{caption}}}")
    out += ["\\resizebox{\\textwidth}{!}{%", "\\begin{tabular}{" + "".join(c.align for c in doc.columns) + "}",
            "\\toprule"]
    groups = _groups(doc.columns)
    if any(g for g, _, _ in groups):
        out.append(" & ".join(f"\\multicolumn{{{n}}}{{c}}{{{_tex(g)}}}" if g else (" & ".join([""] * n))
                              for g, start, n in groups) + " \\\\")
        out.append(" ".join(f"\\cmidrule(lr){{{start + 1}-{start + n}}}" for g, start, n in groups if g))
    out.append(" & ".join(_tex(c.name) for c in doc.columns) + " \\\\")
    out.append("\\midrule")
    for i, (title, rows) in enumerate(doc.blocks):
        if i:
            out.append("\\midrule")
        out.append(f"\\multicolumn{{{ncol}}}{{l}}{{\\textit{{{_tex(title)}}}}} \\\\")
        out += [" & ".join(_tex_cell(c) for c in row) + " \\\\" for row in rows]
    out += ["\\bottomrule", "\\end{tabular}}", "\\end{table*}"]
    if doc.intro[1:]:
        out += ["", *(_tex(p) + "\n" for p in doc.intro[1:])]
    if doc.notes:
        out += ["", "\\paragraph{Notes.}"]
        for heading, items in doc.notes:
            out += [f"\\subparagraph{{{_tex(heading)}}}", "\\begin{itemize}"]
            for item in items:
                if isinstance(item, NoteTable):
                    out += ["\\item[]", "\\begin{tabular}{" + "l" * len(item.header) + "}", "\\toprule",
                            " & ".join(_tex(h) for h in item.header) + " \\\\", "\\midrule",
                            *(" & ".join(_tex(v) for v in r) + " \\\\" for r in item.rows), "\\bottomrule",
                            "\\end{tabular}"]
                elif isinstance(item, list):
                    out += ["\\begin{itemize}", *(f"\\item {_tex(sub)}" for sub in item), "\\end{itemize}"]
                else:
                    out.append(f"\\item {_tex(item)}")
            out.append("\\end{itemize}")
    return "\n".join(out) + "\n"


def _groups(columns: list[Column]) -> list[tuple[str, int, int]]:
    groups: list[tuple[str, int, int]] = []
    for i, c in enumerate(columns):
        if groups and groups[-1][0] == c.group:
            g, start, n = groups[-1]
            groups[-1] = (g, start, n + 1)
        else:
            groups.append((c.group, i, 1))
    return groups


_CSS = """body { font-family: system-ui, sans-serif; margin: 1.5em; color: #111; }
.label { border: 2px solid #b00; background: #fff3f3; padding: .5em .8em; font-weight: bold; display: inline-block; }
table { border-collapse: collapse; font-size: 13px; margin: .5em 0 1em; }
th, td { padding: 2px 7px; white-space: nowrap; }
thead th { border-bottom: 1px solid #000; }
table.scores { border-top: 2px solid #000; border-bottom: 2px solid #000; }
td.r, th.r { text-align: right; font-variant-numeric: tabular-nums; }
td.l, th.l { text-align: left; }
td.ours { background: #eef4ff; }
tr.group td { font-style: italic; border-top: 1px solid #888; padding-top: 6px; }
p, li { max-width: 70em; }"""


def _html_cell(cell: Cell) -> str:
    main = html.escape(cell.main)
    if cell.bold:
        main = f"<b>{main}</b>"
    if cell.underline:
        main = f"<u>{main}</u>"
    return main + html.escape(cell.rest)


def render_html(doc: Document) -> str:
    esc = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           f"<title>{esc(doc.title)}</title>",
           f"<style>\n{_CSS}\n</style>", "</head>", "<body>"]
    if doc.label:
        out.append(f'<p class="label">{esc(doc.label)}</p>')
    out.append(f"<h1>{esc(doc.title)}</h1>")
    out += [f"<p>{esc(p)}</p>" for p in doc.intro]
    if doc.legend:
        (bold, bold_text), (under, under_text) = LEGEND
        out.append(f"<p><b>{bold}</b>{esc(bold_text)}<u><b>{under}</b></u>{esc(under_text)}</p>")
    out += ['<table class="scores">', "<thead>"]
    groups = _groups(doc.columns)
    if any(g for g, _, _ in groups):
        out.append("<tr>" + "".join(f'<th colspan="{n}">{esc(g)}</th>' if g else "<th></th>" * n
                                    for g, _, n in groups) + "</tr>")
    out.append("<tr>" + "".join(f'<th class="{c.align}">{esc(c.name)}</th>' for c in doc.columns) + "</tr>")
    out.append("</thead>")
    for title, rows in doc.blocks:
        out.append("<tbody>")
        out.append(f'<tr class="group"><td colspan="{len(doc.columns)}">{esc(title)}</td></tr>')
        for row in rows:
            out.append("<tr>" + "".join(f'<td class="{c.align}{" ours" if c.name == "ours" else ""}">'
                                        f"{_html_cell(v)}</td>" for c, v in zip(doc.columns, row)) + "</tr>")
        out.append("</tbody>")
    out.append("</table>")
    if doc.notes:
        out.append("<h2>Notes</h2>")
        for heading, items in doc.notes:
            out += [f"<h3>{esc(heading)}</h3>", "<ul>"]
            for i, item in enumerate(items):
                following = items[i + 1] if i + 1 < len(items) else None
                if isinstance(item, list):
                    continue  # written inside the item before it
                sub = ("<ul>" + "".join(f"<li>{esc(x)}</li>" for x in following) + "</ul>"
                       if isinstance(following, list) else "")
                if isinstance(item, NoteTable):
                    out += ["<li><table>", "<thead><tr>" + "".join(f'<th class="l">{esc(h)}</th>' for h in item.header)
                            + "</tr></thead>", "<tbody>",
                            *("<tr>" + "".join(f'<td class="l">{esc(v)}</td>' for v in r) + "</tr>" for r in item.rows),
                            "</tbody></table></li>"]
                else:
                    out.append(f"<li>{esc(item)}{sub}</li>")
            out.append("</ul>")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


def _stats_csv(stats: list[FamilyStats], label: str | None) -> str:
    header = ["note", "suite", "family", "method", "n_tasks", "family_tasks", "n_runs", "seeds_min", "seeds_max", "iqm",
              "ci_low", "ci_high", "mean", "steps", "eval_episodes", "hparams_source", "data_route"]
    lines = [",".join(header)]
    for s in stats:
        seeds = [len(v) for v in s.strata.values()]
        values = [label or "", s.group, s.family, s.method, len(s.strata), s.family_tasks, sum(seeds), min(seeds),
                  max(seeds), _csv_float(s.iqm), _csv_float(s.ci[0] if s.ci else None),
                  _csv_float(s.ci[1] if s.ci else None), _csv_float(s.mean), s.setting.steps, s.setting.eval_episodes,
                  s.setting.hparams_source, s.setting.data_route]
        lines.append(",".join(_csv_field(v) for v in values))
    return "\n".join(lines) + "\n"


def _profiles_csv(stats: list[FamilyStats], label: str | None) -> str:
    lines = ["note,family,method,tau,fraction,ci_low,ci_high,n_runs"]
    for s in stats:
        n = sum(len(v) for v in s.strata.values())
        for i, tau in enumerate(TAUS):
            low = s.profile_ci[0][i] if s.profile_ci else None
            high = s.profile_ci[1][i] if s.profile_ci else None
            lines.append(",".join(_csv_field(v) for v in (label or "", s.family, s.method, tau,
                                                          _csv_float(s.profile[i]), _csv_float(low),
                                                          _csv_float(high), n)))
    return "\n".join(lines) + "\n"


def _csv_float(value) -> str:
    return "" if not _present(None if value is None else float(value)) else repr(round(float(value), 6))


def _csv_field(value) -> str:
    text = "" if value is None else str(value)
    if any(ch in text for ch in ',"\n'):
        text = '"' + text.replace('"', '""') + '"'
    return text


# Writing
def _write_atomic(path: Path, text: str) -> Path:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8", newline="\n"))
    return path


def write_tables(db_path: Path | str, out_dir: Path | str, label: str | None = None) -> list[Path]:
    """Write table4.{md,tex,html}, table1.{md,tex,html}, stats.{md,csv} and profiles.csv into out_dir.

    `label` (e.g. the demo config's "Demo: short CPU runs ... not comparable to the paper's numbers.") is
    printed at the top of every file. Files are written atomically and hold no timestamps.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    label = label.strip() if label and label.strip() else None
    docs = {"table4": _score_document(table4(db_path), label), "table1": _score_document(table1(db_path), label)}
    stats = family_statistics(db_path)
    written = []
    for stem, doc in docs.items():
        written.append(_write_atomic(out_dir / f"{stem}.md", render_markdown(doc)))
        written.append(_write_atomic(out_dir / f"{stem}.tex", render_latex(doc)))
        written.append(_write_atomic(out_dir / f"{stem}.html", render_html(doc)))
    written.append(_write_atomic(out_dir / "stats.md", render_markdown(_stats_document(stats, label))))
    written.append(_write_atomic(out_dir / "stats.csv", _stats_csv(stats, label)))
    written.append(_write_atomic(out_dir / "profiles.csv", _profiles_csv(stats, label)))
    return written
