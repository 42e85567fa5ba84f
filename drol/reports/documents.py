"""Tables as documents (columns, blocks of rows of cells, notes) for the renderers, and the statistics' CSV files."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from drol.reports.fmt import MISSING, listing, num, present, signed, steps_text
from drol.reports.model import FINAL_RULE, MARK_RATIO, NoteTable, PaperScore, ScoreTable
from drol.reports.stats import BOOTSTRAP_SEED, N_RESAMPLES, TAUS, FamilyStats


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
    legend: tuple[tuple[str, str], tuple[str, str]] | None = None  # bold and underlined explained, after the intro


_NO_PAPER = PaperScore(None, None, None, None)


def legend(one_step: list[str]) -> tuple[tuple[str, str], tuple[str, str]]:
    """The meaning of bold and underlined: ((bold, its text), (underlined, its text))."""
    return (("Bold", f": at least {MARK_RATIO:g} x the best number of the row; "),
            ("underlined", f": bold and a one-step method ({', '.join(one_step)})."))


def _mark_cell(main: str, rest: str, mark: str | None) -> Cell:
    return Cell(main, rest, bold=mark in ("b", "u"), underline=mark == "u")


def _joined(values: list[str]) -> str:
    """One value when the methods agree, else 'a / b / c' in the order of our columns."""
    present = [v for v in values if v != MISSING]
    if not present:
        return MISSING
    return present[0] if len(set(present)) == 1 else " / ".join(values)


def score_document(table: ScoreTable, label: str | None) -> Document:
    family = table.kind == "family"
    first = "Family" if family else "Task"
    columns = [Column(first, align="l")]
    columns += [Column(m, "Paper") for m in table.baselines]
    for m in table.methods:
        columns += [Column("paper", m), Column("ours", m), Column("Δ", m), Column("n", m)]
    columns += ([Column("Our tasks")] if family else []) + [Column("Our steps"), Column("Our data route", align="l")]
    blocks: dict[str, list[list[Cell]]] = {}
    for row in table.rows:
        cells = [Cell(row.title)]
        for m in table.baselines:
            p = row.paper[m]
            cells.append(_mark_cell(num(p.mean, 0), f" ± {num(p.std, 0)}" if present(p.std) else "", p.mark)
                         if present(p.mean) else Cell())
        for m in table.methods:
            p, o = row.paper.get(m, _NO_PAPER), row.ours.get(m)
            cells.append(_mark_cell(num(p.mean, 0), f" ± {num(p.std, 0)}" if present(p.std) else "", p.mark)
                         if present(p.mean) else Cell())
            if o is None or not present(o.mean):
                unfinished = o is not None and o.n_unfinished and not family
                cells += [Cell(), Cell(), Cell(f"0/{o.n_unfinished}" if unfinished else MISSING)]
                continue
            cells.append(_mark_cell(num(o.mean, 1), f" ± {num(o.std, 1)}" if present(o.std) else "", o.mark))
            flags = ("†" if o.partial else "") + ("‡" if o.mismatch else "")
            cells.append(Cell(signed(o.delta, 1) + (flags if present(o.delta) else "")))
            n = f"{o.n_seeds}/{o.n_seeds + o.n_unfinished}" if (o.n_unfinished and not family) else str(o.n_seeds)
            cells.append(Cell(n + (f" ({o.n_diverged} div.)" if o.n_diverged else "")))
        ours = [row.ours.get(m) for m in table.methods]
        steps = _joined([steps_text(o.setting.steps) if o and present(o.mean) else MISSING for o in ours])
        routes = _joined([o.setting.data_route or MISSING if o and present(o.mean) else MISSING for o in ours])
        if family:
            size = next((o.family_tasks for o in ours if o and o.family_tasks), None)
            cover = _joined([f"{len(o.tasks)}/{size}" if o and present(o.mean) else MISSING for o in ours])
            cells += [Cell(cover), Cell(steps), Cell(routes)]
        else:
            cells += [Cell(steps), Cell(routes)]
        blocks.setdefault(row.group, []).append(cells)
    which = "Table 1 (per family)" if family else "Table 4 (per task)"
    intro = [
        f"The paper's {which}, all 11 methods as printed (mean ± std), beside our runs of "
        f"{listing(list(table.methods))}: for each of these, the paper's number, ours (mean ± std over n seeds of "
        "the final score), "
        "Δ = ours - paper, and n (seeds; \"k div.\": k of them diverged and count as 0, as the paper's code, "
        "which never stops a run, would score them). Scores x 100 (OGBench: success rate; D4RL: normalised "
        "return). – = no number "
        "(not run, or not in the paper)." + ("" if family else " (*) = the task on which the paper tuned K."),
    ]
    scores = [o for row in table.rows for o in row.ours.values() if present(o.delta)]
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
    return Document(title, intro, columns, list(blocks.items()), table.notes, label,
                    legend(sorted(table.one_step & set(table.methods), key=table.methods.index)))


def stats_document(stats: list[FamilyStats], label: str | None) -> Document:
    columns = [Column("Family", align="l"), Column("Method", align="l"), Column("Tasks"), Column("Seeds per task"),
               Column("Runs"), Column("IQM"), Column("95% CI"), Column("Mean"), Column("Steps"),
               Column("Data route", align="l")]
    blocks: dict[str, list[list[Cell]]] = {}
    for s in stats:
        seeds = sorted({len(v) for v in s.strata.values()})
        ci = f"[{num(s.ci[0], 1)}, {num(s.ci[1], 1)}]" if s.ci else s.ci_note
        blocks.setdefault(s.group, []).append([
            Cell(s.family), Cell(s.method), Cell(f"{len(s.strata)}/{s.family_tasks}"),
            Cell(str(seeds[0]) if len(seeds) == 1 else f"{seeds[0]} to {seeds[-1]}"),
            Cell(str(sum(len(v) for v in s.strata.values()))), Cell(num(s.iqm, 1)), Cell(ci), Cell(num(s.mean, 1)),
            Cell(steps_text(s.setting.steps)), Cell(s.setting.data_route or MISSING)])
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


def stats_csv(stats: list[FamilyStats], label: str | None) -> str:
    header = ["note", "suite", "family", "method", "n_tasks", "family_tasks", "n_runs", "seeds_min", "seeds_max", "iqm",
              "ci_low", "ci_high", "mean", "steps", "eval_episodes", "hparams_source", "data_route"]
    rows = []
    for s in stats:
        seeds = [len(v) for v in s.strata.values()]
        rows.append([label or "", s.group, s.family, s.method, len(s.strata), s.family_tasks, sum(seeds), min(seeds),
                     max(seeds), _csv_float(s.iqm), _csv_float(s.ci[0] if s.ci else None),
                     _csv_float(s.ci[1] if s.ci else None), _csv_float(s.mean), s.setting.steps,
                     s.setting.eval_episodes, s.setting.hparams_source, s.setting.data_route])
    return _csv(header, rows)


def profiles_csv(stats: list[FamilyStats], label: str | None) -> str:
    header = ["note", "family", "method", "tau", "fraction", "ci_low", "ci_high", "n_runs"]
    rows = []
    for s in stats:
        n = sum(len(v) for v in s.strata.values())
        low, high = s.profile_ci if s.profile_ci else ([None] * len(TAUS), [None] * len(TAUS))
        rows += [[label or "", s.family, s.method, tau, _csv_float(s.profile[i]), _csv_float(low[i]),
                  _csv_float(high[i]), n] for i, tau in enumerate(TAUS)]
    return _csv(header, rows)


def _csv(header: list[str], rows: list[list]) -> str:
    """CSV text (values as given: numbers formatted by _csv_float, None empty), newline-terminated lines."""
    return pd.DataFrame(rows, columns=header, dtype=object).to_csv(index=False, lineterminator="\n")


def _csv_float(value) -> str | None:
    return None if value is None or not present(float(value)) else repr(round(float(value), 6))
