"""Fig. 2: the routing mechanism: a candidate set and its Voronoi cells at a fixed state, early / middle / last,
from a run of a method with K (its candidates per state) in the setting the selection rule shows."""

from __future__ import annotations

import json
import math
from dataclasses import fields
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from drol.data.toy import ToyBandit
from drol.reports.figures import common as kit
from drol.reports.select import opened
from drol.tasks import TOY_TASK


def routing_data(con: duckdb.DuckDBPyConnection, state_id: int = 0) -> list[tuple]:
    """[(kind, run, snapshots, observation)] for kind "toy" (the toy task) and "real" (another task): runs of a
    method with K (its candidate set) with snapshots at `state_id`, of a setting the selection rule shows
    (shown_runs). Preferred: on the toy task a label of the task's tuned K (DROL: K = the toy's modes), else
    the method's default label (DROL(16)); elsewhere the default label first; then finished runs, the
    representative task, the longest training and low seeds."""
    runs = kit.df(con, """
        SELECT r.run_id, r.task, r.suite, r.K, r.seed, r.status, r.steps, r.action_dim, r.dataset_info,
               coalesce(list(rl.label ORDER BY rl.label) FILTER (WHERE rl.label IS NOT NULL), []) AS labels,
               coalesce(t.representative, false) AS representative, coalesce(t.ord, 1000000) AS ord
        FROM runs r
        LEFT JOIN run_labels rl ON rl.run_id = r.run_id
        LEFT JOIN tasks t ON t.name = r.task
        WHERE r.method IN (SELECT method FROM methods WHERE has_k)
          AND r.run_id IN (SELECT run_id FROM shown_runs WHERE for_task)
          AND r.run_id IN (SELECT DISTINCT run_id FROM snapshots WHERE state_id = ?)
        GROUP BY ALL ORDER BY r.run_id""", [state_id])
    with_k = [m for m in kit.styles(con).values() if m.has_k]
    tuned_first = tuple(m.label for m in sorted(with_k, key=lambda m: (m.is_default, m.ord)))
    default_first = tuple(m.label for m in sorted(with_k, key=lambda m: (not m.is_default, m.ord)))
    rows = []
    for kind, pool, prefer in (("toy", runs[runs.task == TOY_TASK], tuned_first),
                               ("real", runs[runs.task != TOY_TASK], default_first)):
        if pool.empty:
            continue
        run = _pick_run(pool, prefer)
        snaps = kit.df(con, "SELECT step, candidate, action FROM snapshots WHERE run_id = ? AND state_id = ? "
                            "ORDER BY step, candidate", [run.run_id, state_id])
        obs = con.execute("SELECT observation FROM snapshot_states WHERE run_id = ? AND state_id = ?",
                          [run.run_id, state_id]).fetchone()
        rows.append((kind, run, snaps, None if obs is None else np.asarray(obs[0], dtype=float)))
    return rows


def routing_figure(db, out_dir: Path | str, *, label: str | None = None, state_id: int = 0) -> list[Path]:
    """Candidate sets and their Voronoi cells at one fixed state, first / middle / last snapshot step.

    Row 1: the toy task (its support modes drawn, the best one marked); row 2: one state of a real task
    (first two action dimensions). A row is left out when no run of that kind has snapshots.
    """
    with opened(db) as con:
        rows = routing_data(con, state_id)
        order = list(kit.styles(con))
    if not rows:
        return kit.no_data("routing", f"no run of a method with K has candidate snapshots at state {state_id}")

    with kit.style():
        from matplotlib.lines import Line2D
        from matplotlib.patches import Circle, Patch

        fig = kit.new_figure(kit.DOUBLE_COLUMN_IN, 0.55 + 2.45 * len(rows))
        subfigs = fig.subfigures(len(rows), 1, squeeze=False).ravel()
        caption = []
        for r, (kind, run, snaps, obs) in enumerate(rows):
            steps = sorted(snaps.step.unique())
            chosen = _three_moments(steps)
            toy = _toy_from_info(run.dataset_info) if kind == "toy" else None
            centres = best = None
            if toy is not None and obs is not None:
                centres = toy.centres(obs[None, :2])[0]
                best = int(toy.best_mode(obs[None, :2])[0])
            labels = " = ".join(m for m in order if m in list(run.labels)) or "K sweep"
            head = (f"{'Toy task' if kind == 'toy' else kit.short_task(run.task)}: {labels}, K = {int(run.K)}, "
                    f"seed {int(run.seed)}, dataset state {state_id}")
            if kind == "toy" and obs is not None:
                head += f" (angle {math.degrees(math.atan2(obs[1], obs[0])):.0f}°)"
            if kind != "toy":
                head += f", action dims 1-2 of {kit.int_text(run.action_dim)}"
            subfigs[r].suptitle(head, fontsize=8.3, fontweight="bold")
            axes = subfigs[r].subplots(1, 3)
            for c in range(3):
                ax = axes[c]
                if c >= len(chosen):
                    ax.set_visible(False)
                    continue
                moment, step = chosen[c]
                cand = np.array([np.asarray(a, dtype=float)[:2] for a in snaps[snaps.step == step].action])
                if cand.shape[1] < 2:  # one action dimension: plot it against zero
                    cand = np.column_stack([cand[:, 0], np.zeros(len(cand))])
                _voronoi(ax, cand)
                title = f"step {kit.fmt_step(step)} ({moment})"
                if centres is not None:
                    for m, centre in enumerate(centres):
                        is_best = m == best
                        ax.add_patch(Circle(centre, toy.support_radius, fc="#000000", alpha=0.16, lw=0, zorder=2))
                        ax.add_patch(Circle(centre, toy.support_radius, fc="none", zorder=3,
                                            ec=kit.HIGHLIGHT if is_best else "#222222", lw=1.6 if is_best else 0.8))
                    inside = np.linalg.norm(cand[:, None, :] - centres[None], axis=-1) <= toy.support_radius
                    title += f"\n{int(inside.any(0).sum())} of {len(centres)} modes covered"
                ax.scatter(cand[:, 0], cand[:, 1], s=14, c="#111111", edgecolors="white", linewidths=0.6, zorder=5)
                ax.set_xlim(-1.05, 1.05)
                ax.set_ylim(-1.05, 1.05)
                ax.set_aspect("equal")
                ax.set_xticks([-1, 0, 1])
                ax.set_yticks([-1, 0, 1])
                ax.grid(False)
                ax.set_title(title, fontsize=7.8)
                ax.set_xlabel("$a_0$")
                if c == 0:
                    ax.set_ylabel("$a_1$")
            if kind == "toy":
                caption.append(f"Toy task ({run.task}): grey discs are the {toy.num_modes} support modes of this "
                               "state (the dataset's actions lie uniformly in them), red edge: the mode that pays "
                               "more; candidates inside a disc cover that mode.")
            else:
                caption.append(f"{run.task}: candidates projected to their first two action dimensions; the cells "
                               f"drawn are those of the projected candidates (routing uses the "
                               f"{kit.int_text(run.action_dim)}-D cells, whose projections may overlap).")
        caption.append("Coloured regions: Voronoi cells of the candidate set, one per candidate (a dataset action in "
                       "a cell is routed to that cell's candidate); a0, a1: first and second action dimension; "
                       "columns: first, middle and last snapshot step. Candidates closer than a marker overlap.")
        handles = [Line2D([], [], ls="none", marker="o", ms=4.5, mfc="#111111", mec="white", label="candidate"),
                   Patch(fc="#e8e8e8", ec="#555555", lw=0.6, label="Voronoi cell")]
        if any(kind == "toy" for kind, *_ in rows):
            handles += [Patch(fc="#bdbdbd", ec="#222222", lw=0.8, label="support mode"),
                        Patch(fc="#bdbdbd", ec=kit.HIGHLIGHT, lw=1.6, label="paying (best) mode")]
        fig.legend(handles=handles, loc="outside upper center", ncols=len(handles), frameon=False)
        kit.finish(fig, caption, label)
        return kit.save(fig, out_dir, "routing")


def _pick_run(pool: pd.DataFrame, prefer: tuple[str, ...]):
    def key(row):
        labels = list(row.labels)
        rank = next((i for i, p in enumerate(prefer) if p in labels), len(prefer))
        steps = -int(row.steps) if pd.notna(row.steps) else 0
        return (rank, row.status != "finished", not bool(row.representative), int(row.ord), steps, int(row.seed),
                row.run_id)

    return sorted(pool.itertuples(index=False), key=key)[0]


def _three_moments(steps: list) -> list[tuple[str, int]]:
    if not steps:
        return []
    picks = [("first", steps[0]), ("middle", steps[len(steps) // 2]), ("last", steps[-1])]
    out, seen = [], set()
    for moment, step in picks:
        if step not in seen:
            out.append((moment, int(step)))
            seen.add(step)
    return out


def _toy_from_info(dataset_info) -> ToyBandit:
    try:
        values = json.loads(dataset_info) if isinstance(dataset_info, str) else {}
    except json.JSONDecodeError:
        values = {}
    names = {f.name for f in fields(ToyBandit)}
    return ToyBandit(**{k: v for k, v in (values or {}).items() if k in names})


def _voronoi(ax, cand: np.ndarray, lim: float = 1.05, n: int = 600) -> None:
    """Cells of the nearest candidate on a fine grid (exact up to a pixel, robust for any K), with boundaries."""
    from matplotlib.colors import ListedColormap, to_rgb

    xs = np.linspace(-lim, lim, n)
    gx, gy = np.meshgrid(xs, xs)
    grid = np.stack([gx.ravel(), gy.ravel()], -1)
    nearest = ((grid[:, None, :] - cand[None]) ** 2).sum(-1).argmin(1).reshape(n, n)
    k = len(cand)
    base = [np.array(to_rgb(kit.PALETTE[i % len(kit.PALETTE)])) for i in range(k)]
    light = [tuple(0.7 + 0.3 * c) for c in base]  # pastel: 70 % white
    ax.imshow(nearest, extent=(-lim, lim, -lim, lim), origin="lower", cmap=ListedColormap(light),
              vmin=-0.5, vmax=k - 0.5, interpolation="nearest", zorder=0)
    edge = np.zeros_like(nearest, dtype=bool)
    edge[:, 1:] |= nearest[:, 1:] != nearest[:, :-1]
    edge[1:, :] |= nearest[1:, :] != nearest[:-1, :]
    ax.imshow(np.ma.masked_where(~edge, edge.astype(float)), extent=(-lim, lim, -lim, lim), origin="lower",
              cmap=ListedColormap(["#4a4a4a"]), interpolation="nearest", zorder=1)


