"""The paper's own inconsistencies, found from the database's reference tables (paper_scores,
paper_family_scores, hparams, tasks), for the tables' notes and `paper_inconsistencies`.

These checks are facts about the paper: they name its DROL(16) and DROL columns on purpose.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from drol.reports.fmt import MISSING, num, pair_text, paper_text, present, signed
from drol.reports.model import NoteTable, mark_row
from drol.reports.select import opened, records

ROUNDING_TOL = 1.0  # |mean of rounded Table 4 numbers - rounded Table 1 number| <= 0.5 + 0.5


def paper_score_map(con) -> dict[tuple[str, str], dict]:
    return {(r["task"], r["label"]): r for r in records(con, "SELECT * FROM paper_scores ORDER BY ord")}


def task_rows(con) -> list[dict]:
    return records(con, "SELECT name, ord, suite, family, paper_family, representative, offline_steps FROM tasks "
                        "ORDER BY ord")


def paper_checks(con) -> dict:
    tasks = task_rows(con)
    order = {t["name"]: t["ord"] for t in tasks}
    family_of = {t["name"]: t["family"] for t in tasks}
    paper = paper_score_map(con)
    hp = {(r["task"], r["label"], r["source"]): r for r in records(con, "SELECT * FROM hparams")}

    def config(task, label, source):
        row = hp.get((task, label, source)) or hp.get((task, label, "table3"))
        return None if row is None else row["overrides"]

    def numbers(task, label):
        r = paper.get((task, label))
        return None if r is None or r["mean"] is None else (r["mean"], r["std"])

    def pair(task):
        a, b = numbers(task, "DROL(16)"), numbers(task, "DROL")
        return f"{paper_text(*a)} vs {paper_text(*b)}" if a and b else MISSING

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
    table1 = {(r["family"], r["label"]): r for r in records(con, "SELECT * FROM paper_family_scores")}
    for fam, names in fam_tasks.items():
        ks = {(hp[(n, "DROL(16)", "table3")]["K"], hp[(n, "DROL", "table3")]["K"],
               (hp.get((n, "DROL", "script")) or hp[(n, "DROL", "table3")])["K"]) for n in names}
        if all(k16 != k and k16 != ks_ for k16, k, ks_ in ks) and \
                all(numbers(n, "DROL(16)") == numbers(n, "DROL") for n in names):
            copied.append({"family": fam, "tasks": names, "K": sorted(ks),
                           "task_K": {n: {"table3": hp[(n, "DROL", "table3")]["K"],
                                          "script": (hp.get((n, "DROL", "script")) or hp[(n, "DROL", "table3")])["K"]}
                                      for n in names},
                           "numbers": [paper_text(*numbers(n, "DROL")) for n in names],
                           "table1": {label: (paper_text(r["mean"], r["std"]) if r else MISSING)
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
    for r in records(con, "SELECT * FROM paper_family_scores ORDER BY ord"):
        vals = [paper.get((n, r["label"]), {}).get("mean") for n in members.get(r["family"], [])]
        if r["mean"] is None or not vals or not all(present(v) for v in vals):
            continue
        mean = float(np.mean(vals))
        diff = mean - r["mean"]
        if abs(diff) >= ROUNDING_TOL - 1e-9:
            t1_vs_t4.append({"family": r["family"], "label": r["label"], "table1": r["mean"], "table4_mean": mean,
                             "diff": diff, "at_bound": abs(diff) <= ROUNDING_TOL + 1e-9, "n": len(vals)})

    # 5. The mark rule against the printed marks.
    mark_check = {}
    for name, sql in (("Table 4", "SELECT task AS k, label, mean, mark FROM paper_scores"),
                      ("Table 1", "SELECT family AS k, label, mean, mark FROM paper_family_scores")):
        recs = records(con, sql)
        rows: dict[str, dict] = {}
        for r in recs:
            rows.setdefault(r["k"], {})[r["label"]] = r
        mismatches = 0
        for row in rows.values():
            marks = mark_row({m: r["mean"] for m, r in row.items()})
            mismatches += sum(marks[m] != r["mark"] for m, r in row.items())
        mark_check[name] = (len(recs), mismatches)
    return {"provenance": provenance, "copied": copied, "same_config": same_config, "t1_vs_t4": t1_vs_t4,
            "marks": mark_check, "family_of": family_of}


def task_mismatch(checks: dict, task: str, label: str, source: str | None) -> str | None:
    """Why the paper's number of (task, label) comes from another configuration than our runs with `source`."""
    for p in checks["provenance"]:
        if p["task"] == task and p["label"] == label:
            if p["agrees_with"] == "script" and source != "script":
                return (f"the paper's number agrees with the released script's (α, K) = {pair_text(p['script'])}, "
                        f"ours ran Table 3's {pair_text(p['table3'])}")
            if p["agrees_with"] == "Table 3" and source == "script":
                return (f"the paper's number agrees with Table 3's (α, K) = {pair_text(p['table3'])}, ours ran "
                        f"the script's {pair_text(p['script'])}")
    if label == "DROL":
        for c in checks["copied"]:
            if task in c["tasks"]:
                k = c["task_K"][task]["script" if source == "script" else "table3"]
                return f"the paper's DROL number is its DROL(16) number (K = 16), ours ran K = {k}"
    return None


def plain(item) -> str:
    if isinstance(item, NoteTable):
        return " | ".join(" / ".join(row) for row in item.rows)
    return item


def paper_inconsistencies(db_path: Path | str) -> list[str]:
    """The paper-internal disagreements found from the database's reference tables, one line each."""
    with opened(db_path) as con:
        checks = paper_checks(con)
    return [plain(item) for _, items in inconsistency_notes(checks) for item in items]


def inconsistency_notes(checks: dict) -> list[tuple[str, list[str | NoteTable]]]:
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
                      [[p["task"], p["label"], pair_text(p["table3"]), pair_text(p["script"]), p["paper"],
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
            f"paper's numbers differ (largest gap {signed(big['gap'], 0)} on {big['task']}: "
            f"{paper_text(*big['drol16'])} vs {paper_text(*big['drol'])}). These are evidently separate runs of "
            f"one configuration, so gaps of this size are run-to-run variation: a scale for reading Δ.",
            NoteTable(["Task", "(α, K)", "Paper DROL(16)", "Paper DROL", "Gap (DROL - DROL(16))"],
                      [[s["task"], pair_text(s["config"]), paper_text(*s["drol16"]), paper_text(*s["drol"]),
                        signed(s["gap"], 0)] for s in same])]))
    diffs = checks["t1_vs_t4"]
    if diffs:
        notes.append(("Table 1 against the mean of Table 4", [
            "Table 1 should equal the mean of Table 4 over the family's tasks; both are rounded to integers, so "
            f"they can differ by at most {ROUNDING_TOL:g} (exactly {ROUNDING_TOL:g} only if every rounding went "
            "0.5 the same way). Beyond or at that bound:",
            NoteTable(["Family", "Method", "Table 1", "Mean of Table 4", "Difference"],
                      [[d["family"], d["label"], num(d["table1"], 0), f"{d['table4_mean']:.1f} ({d['n']} tasks)",
                        signed(d["table4_mean"] - d["table1"], 1) + (" (at the rounding bound)" if d["at_bound"]
                                                                      else " (beyond rounding)")]
                       for d in diffs])]))
    return notes

