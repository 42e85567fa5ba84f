"""The notes under Table 4 and Table 1: the rules, the settings our numbers come from, the paper's inconsistencies."""

from __future__ import annotations

from drol.reports.fmt import listing, ours_text, steps_text, text
from drol.reports.model import FINAL_RULE, MARK_RATIO, PAPER_METHODS, ROUTES, ScoreTable
from drol.reports.paper_checks import inconsistency_notes
from drol.reports.select import RULE_TEXT, Setting


def common_notes(table: ScoreTable, checks: dict) -> list[tuple[str, list]]:
    """The notes of a table (Table 4 or Table 1), given the paper checks (paper_checks.paper_checks)."""
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
    one_step = [m for m in table.methods if m in table.one_step]
    in_paper = [m for m in table.methods if m in PAPER_METHODS]
    rules.append(f"Marks: bold = at least {MARK_RATIO:g} x the best number of the row; underlined = bold and "
                 f"one-step ({', '.join(one_step)}). The paper's marks recomputed by this rule {agreement}. Our "
                 "numbers (rounded to 0.1) are marked against the row with ours in place of the paper's "
                 f"{listing(in_paper)}.")
    if {"DROL(16)", "DROL"} <= set(table.methods):  # the paper's two DROL columns
        rules.append("One run stands for every label whose configuration it has: where the family's tuned K is 16 "
                     "(and Table 3 gives both labels one α), our DROL and DROL(16) numbers are the same runs.")
    rules.append(f"Where the database holds several settings (training steps, batch size, evaluation episodes, "
                 f"hparams source, data route) of one {what} and method, the table shows {RULE_TEXT[what]} (the "
                 "database's selection rule, view `settings`, which the figures follow too); the others are listed "
                 "under 'Our runs' below. Settings are never averaged together. The workflow's short timing runs "
                 "(label 'runtime') are not method results.")
    notes.append(("Rules", rules))

    # Settings of our numbers and which data route produced them.
    shown: dict[Setting, list[str]] = {}
    alternatives, unfinished, diverged, short, mismatched = [], [], [], [], []
    for row in table.rows:
        for label, s in row.ours.items():
            shown.setdefault(s.setting, []).append(f"{row.key} {label}")
            if s.mismatch:
                mismatched.append(f"{row.key} {label}: {s.mismatch}")
            if s.alternatives:
                alt = "; ".join(f"{a.describe(s.setting)}: {ours_text(m, sd)} (n = {n})"
                                for a, m, sd, n in s.alternatives)
                alternatives.append(f"{row.key} {label}: shown {steps_text(s.setting.steps)} steps, n = "
                                    f"{s.n_seeds}; also {alt}")
            if s.n_unfinished:
                unfinished.append(f"{row.key} {label}: {s.n_unfinished}")
            if s.n_diverged:
                diverged.append(f"{row.key} {label}: {s.n_diverged} of {s.n_seeds}")
            if row.paper_steps and s.setting.steps and s.setting.steps != row.paper_steps:
                short.append(f"{row.key} {label}")
    settings: list = []
    if shown:
        settings.append(f"Our numbers come from {len(shown)} setting(s) (one per {what} and method; the data route "
                        "says how each dataset was obtained):")
        lines = []
        for setting in sorted(shown, key=lambda s: tuple(text(v) for v in (s.steps, s.data_route, s.hparams_source,
                                                                           s.eval_episodes, s.batch_size))):
            cells = shown[setting]
            listed = ", ".join(cells) if len(cells) <= 12 else f"{len(cells)} {what}-method cells"
            lines.append(f"{setting.describe()}: {listed}.")
        settings.append(lines)
        routes = sorted({s.data_route for s in shown if s.data_route})
        if routes:
            settings.append("Data routes: " + "; ".join(f"{r} = {ROUTES.get(r, 'as recorded in run.json')}"
                                                       for r in routes) + ".")
        if short and table.kind == "task":
            settings.append(f"{len(short)} of our {what}-method cells ran fewer updates than the paper (1M OGBench, "
                            "500k D4RL): their Δ compares different training lengths.")
    else:
        settings.append(f"The database holds no finished run of {listing(list(table.methods), 'or')}: every 'ours' "
                        "cell is –.")
    if alternatives:
        settings.append(f"Several settings in the database for one {what} and method: the table shows "
                        f"{RULE_TEXT[what]}; the others:")
        settings.append(alternatives)
    if diverged:
        settings.append(f"Diverged seeds per {what} and method, in the mean with score 0 (the paper's code never "
                        "stops a run, so such a seed still gets a final score, almost surely 0):")
        settings.append(diverged)
    if unfinished:
        settings.append(f"Runs not finished (interrupted or still running; listed, not averaged) per {what} "
                        "and method:")
        settings.append(unfinished)
    if mismatched:
        settings.append("‡ = the paper's number and ours come from different configurations (see the paper's "
                        "inconsistencies below), so that Δ is not like for like:")
        settings.append(mismatched)
    notes.append(("Our runs: settings and data routes", settings))
    notes.extend(inconsistency_notes(checks))
    return notes

