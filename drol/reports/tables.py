"""The paper's Tables 4 and 1 reproduced from results.duckdb, beside the paper's numbers, and statistics.

Every function reads the database read-only through its views (`table4`, `task_scores`, `table1_scores`,
`shown_runs`), its `methods` table and its reference tables (`paper_scores`, `paper_family_scores`,
`hparams`, `tasks`). The package's modules:

| module | what |
|---|---|
| `select` | the selection rule as the reports read it (the rule itself: views.sql, view `settings`), methods |
| `tables` (here) | `table4(db)`, `table1(db)`: per task / per family, the paper's 11 methods beside our method labels |
| `notes`, `paper_checks` | the tables' notes; the paper's own inconsistencies (`paper_inconsistencies(db)`) |
| `stats` | `family_statistics(db)`: per family and method, IQM with a stratified bootstrap 95 % CI; profiles |
| `documents`, `render` | tables as documents; Markdown, LaTeX (booktabs) and self-contained HTML renderers |
| `figures` | the paper's figures (a package, one module per figure or pair) |

`write_tables(db, out_dir, label)` writes table4.{md,tex,html}, table1.{md,tex,html}, stats.{md,csv} and
profiles.csv.

Rules (DESIGN section 5):
- the final score of a run is its evaluation at its last step (view `final_scores`); per task mean and
  sample std over seeds; per family the mean over the family's tasks per seed, then mean and std over seeds;
- our columns are the database's method labels (table `methods`, in its order), beside the paper's
  numbers where the paper has the label;
- marks: bold when >= 0.95 x the best number of the row, underlined when bold and the method is one-step
  (the paper's FQL, DROL(16), DROL; ours: `methods.one_step`); applied to the paper's numbers this gives the
  paper's printed marks (tested). Our numbers are marked against the row with ours in place of the paper's;
- which setting (steps, batch size, evaluation episodes, hparams source, data route) of a task or family
  and method is shown: the database's selection rule (views.sql, view `settings`; see drol.reports.select);
  the other settings are listed in the notes. The workflow's timing runs are never method results.

Output is deterministic (fixed bootstrap seed, no timestamps); files are written atomically.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from drol.io import atomic_write
from drol.reports.documents import profiles_csv, score_document, stats_csv, stats_document
from drol.reports.fmt import MISSING, present
from drol.reports.model import (
    BASELINES,
    MARK_RATIO,
    NOT_IN_PAPER,
    ONE_STEP,
    OURS,
    PAPER_METHODS,
    SUITE_TITLES,
    OurScore,
    PaperScore,
    Row,
    ScoreTable,
    mark_row,
)
from drol.reports.notes import common_notes
from drol.reports.paper_checks import paper_checks, paper_inconsistencies, paper_score_map, task_mismatch, task_rows
from drol.reports.render import render_html, render_latex, render_markdown
from drol.reports.select import Setting, method_labels, opened, records
from drol.reports.stats import family_statistics, iqm, performance_profile, stratified_bootstrap_ci
from drol.results.query import connect_read_only

__all__ = ["BASELINES", "MARK_RATIO", "MISSING", "NOT_IN_PAPER", "ONE_STEP", "OURS", "PAPER_METHODS", "OurScore",
           "PaperScore", "Row", "ScoreTable", "Setting", "family_statistics", "iqm", "mark_row",
           "paper_inconsistencies", "performance_profile", "render_html", "render_latex", "render_markdown",
           "stratified_bootstrap_ci", "table1", "table4", "write_tables"]

_connect = connect_read_only  # a read-only connection (tests hand it to _paper_checks)
_paper_checks = paper_checks
_NO_PAPER = PaperScore(None, None, None, None)


def _columns(con) -> tuple[tuple[str, ...], frozenset[str], tuple[str, ...]]:
    """Our columns (the database's method labels, in order), the one-step ones, the paper's other columns."""
    methods = method_labels(con)
    ours = tuple(m.label for m in methods)
    return ours, frozenset(m.label for m in methods if m.one_step), tuple(m for m in PAPER_METHODS if m not in ours)


def _our_score(chosen: dict, others: list[dict]) -> OurScore:
    return OurScore(mean=chosen["mean"], std=chosen["std"], n_seeds=chosen["n_seeds"] or 0,
                    setting=Setting.of(chosen), n_unfinished=chosen.get("n_unfinished") or 0,
                    n_diverged=chosen.get("n_diverged") or 0,
                    alternatives=[(Setting.of(o), o["mean"], o["std"], o["n_seeds"] or 0) for o in others])


def _mark_ours(paper: dict[str, PaperScore], ours: dict[str, OurScore], one_step: Iterable[str] = ONE_STEP,
               baselines: Iterable[str] = BASELINES, digits: int = 1) -> None:
    """Mark our numbers against the row: the paper's baselines with ours in place of its one-step methods."""
    values: dict[str, float | None] = {m: paper[m].mean for m in baselines if m in paper}
    if not any(present(v) for v in values.values()):
        return  # no paper numbers to compare with
    markable = {m: s for m, s in ours.items() if present(s.mean) and not s.partial}
    values.update({m: round(s.mean, digits) for m, s in markable.items()})
    marks = mark_row(values, one_step)
    for m, s in markable.items():
        s.mark = marks[m]


def _paper_cells(recs: Mapping[str, Mapping]) -> dict[str, PaperScore]:
    marks = mark_row({m: recs[m]["mean"] if m in recs else None for m in PAPER_METHODS})
    return {m: PaperScore(recs[m]["mean"], recs[m]["std"], marks[m], recs[m]["mark"]) if m in recs else _NO_PAPER
            for m in PAPER_METHODS}


def _by(recs: list[dict], *keys: str) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = {}
    for r in recs:
        out.setdefault(tuple(r[k] for k in keys), []).append(r)
    return out


# Table 4
def table4(db_path: Path | str) -> ScoreTable:
    """Per task: the paper's Table 4 (11 methods, marks by the rule) beside our method labels."""
    with opened(db_path) as con:
        methods, one_step, baselines = _columns(con)
        tasks = task_rows(con)
        view = records(con, "SELECT *, ours_mean AS mean, ours_std AS std FROM table4")
        others = _by(records(con, "SELECT * FROM task_scores WHERE NOT shown ORDER BY task, label, setting_rank"),
                     "task", "label")
        checks = paper_checks(con)
    by_task = _by(view, "task")
    rows = []
    for task in tasks:
        recs = by_task.get((task["name"],))
        if not recs:
            continue
        in_paper = any(r["paper_mean"] is not None for r in recs)
        paper = _paper_cells({r["label"]: {"mean": r["paper_mean"], "std": r["paper_std"], "mark": r["paper_mark"]}
                              for r in recs if r["label"] in PAPER_METHODS}) if in_paper else \
            dict.fromkeys(PAPER_METHODS, _NO_PAPER)
        ours = {}
        for label in methods:
            chosen = next((r for r in recs if r["label"] == label and r["n_seeds"] is not None), None)
            if chosen is None:
                continue
            score = _our_score(chosen, others.get((task["name"], label), []))
            if present(score.mean) and present(paper.get(label, _NO_PAPER).mean):
                score.delta = score.mean - paper[label].mean
            score.mismatch = task_mismatch(checks, task["name"], label, score.setting.hparams_source)
            ours[label] = score
        _mark_ours(paper, ours, one_step, baselines)
        title = task["name"] + (" (*)" if task["representative"] and in_paper else "")
        group = SUITE_TITLES.get(task["suite"], NOT_IN_PAPER) if in_paper else NOT_IN_PAPER
        rows.append(Row(task["name"], group, title, paper, ours, task["offline_steps"]))
    rows.sort(key=lambda r: r.group == NOT_IN_PAPER)  # stable: the paper's order, then ours
    table = ScoreTable("task", rows, [], methods, one_step, baselines)
    table.notes = common_notes(table, checks)
    return table


# Table 1
def table1(db_path: Path | str) -> ScoreTable:
    """Per family of the paper's Table 1: the paper's 11 methods beside our method labels."""
    with opened(db_path) as con:
        methods, one_step, baselines = _columns(con)
        candidates = _by(records(con, "SELECT * FROM table1_scores ORDER BY family, label, setting_rank"),
                         "family", "label")
        paper_t1 = records(con, "SELECT * FROM paper_family_scores ORDER BY ord")
        paper_t4 = paper_score_map(con)
        checks = paper_checks(con)
    families: dict[str, dict] = {}
    for r in paper_t1:
        families.setdefault(r["family"], {"suite": r["suite"], "n_tasks": r["n_tasks"], "paper": {}})
        families[r["family"]]["paper"][r["label"]] = r
    sizes = {fam: recs[0]["family_tasks"] for (fam, _), recs in candidates.items()}
    for fam, _ in candidates:  # families we ran that the paper's Table 1 lacks (the toy task)
        families.setdefault(fam, {"suite": None, "n_tasks": sizes.get(fam), "paper": {}})
    rows = []
    for fam, entry in families.items():
        in_paper = bool(entry["paper"])
        paper = _paper_cells(entry["paper"]) if in_paper else dict.fromkeys(PAPER_METHODS, _NO_PAPER)
        ours = {}
        for label in methods:
            settings = candidates.get((fam, label))
            if not settings:
                continue
            chosen, others = settings[0], settings[1:]  # ordered by setting_rank: the first is shown
            score = _our_score(chosen, others)
            score.tasks, score.family_tasks = tuple(chosen["tasks"]), chosen["family_tasks"]
            reasons = {t: task_mismatch(checks, t, label, score.setting.hparams_source) for t in score.tasks}
            reasons = {t: r for t, r in reasons.items() if r}
            if reasons:
                score.mismatch = f"on {len(reasons)} of its tasks (" + "; ".join(
                    f"{t}: {r}" for t, r in reasons.items()) + ")"
            score.partial = len(score.tasks) < (score.family_tasks or 0) or \
                (chosen.get("n_tasks_min") or 0) < len(score.tasks)
            paper_mean = paper.get(label, _NO_PAPER).mean
            if present(score.mean):
                if not score.partial and present(paper_mean):
                    score.delta = score.mean - paper_mean
                elif score.partial and score.tasks:
                    same = [paper_t4.get((t, label), {}).get("mean") for t in score.tasks]
                    if all(present(v) for v in same):
                        score.delta = score.mean - float(np.mean(same))
            ours[label] = score
        _mark_ours(paper, ours, one_step, baselines)
        size = entry["n_tasks"] or sizes.get(fam)
        title = f"{fam} ({size} task{'s' if size != 1 else ''})" if size else fam
        group = SUITE_TITLES.get((entry["suite"] or "").lower(), NOT_IN_PAPER) if in_paper else NOT_IN_PAPER
        rows.append(Row(fam, group, title, paper, ours))
    rows.sort(key=lambda r: r.group == NOT_IN_PAPER)
    table = ScoreTable("family", rows, [], methods, one_step, baselines)
    table.notes = common_notes(table, checks)
    return table


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
    docs = {"table4": score_document(table4(db_path), label), "table1": score_document(table1(db_path), label)}
    stats = family_statistics(db_path)
    written = []
    for stem, doc in docs.items():
        written.append(_write_atomic(out_dir / f"{stem}.md", render_markdown(doc)))
        written.append(_write_atomic(out_dir / f"{stem}.tex", render_latex(doc)))
        written.append(_write_atomic(out_dir / f"{stem}.html", render_html(doc)))
    written.append(_write_atomic(out_dir / "stats.md", render_markdown(stats_document(stats, label))))
    written.append(_write_atomic(out_dir / "stats.csv", stats_csv(stats, label)))
    written.append(_write_atomic(out_dir / "profiles.csv", profiles_csv(stats, label)))
    return written
