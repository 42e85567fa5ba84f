"""What the figures drew, against the views they draw (the selection rule's `shown` rows): the matplotlib figures
are captured as drol.reports.figures.common.save writes them, and the numbers are read off their axes (line
data, bar heights), so a test checks the plotted numbers, not a frame computed beside them."""

from __future__ import annotations

import re

import duckdb
import numpy as np
import pytest

from drol.reports.figures import common as kit
from drol.reports.stats import TAUS


def capture(monkeypatch) -> dict:
    """Stem -> matplotlib figure, for every file the figures write from now on (they are still written)."""
    figures = {}
    save = kit.save

    def recording(fig, out_dir, stem):
        figures[stem] = fig
        return save(fig, out_dir, stem)

    monkeypatch.setattr(kit, "save", recording)
    return figures


def pages(figures: dict, stem: str) -> list:
    """The figure's files in page order: stem, stem_p2, ..."""
    numbered = {int(s.removeprefix(f"{stem}_p")): f for s, f in figures.items() if re.fullmatch(rf"{stem}_p\d+", s)}
    return ([figures[stem]] if stem in figures else []) + [numbered[i] for i in sorted(numbered)]


def panels(figures: dict, stem: str, tasks) -> dict[str, object]:
    """Task -> its panel's axes over every page of a small-multiples figure (titles are short task names)."""
    by_title = {kit.short_task(t): t for t in tasks}
    axes = {}
    for fig in pages(figures, stem):
        for ax in fig.axes:
            if ax.get_visible() and ax.get_title():
                title = ax.get_title().replace("\n", " ")
                assert title in by_title and by_title[title] not in axes, title
                axes[by_title[title]] = ax
    return axes


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def check_k_sensitivity(figures: dict, con: duckdb.DuckDBPyConnection) -> None:
    """One panel per task of `k_sensitivity`'s shown rows, its line the view's means over K."""
    view = rows(con, "SELECT task, K, mean FROM k_sensitivity WHERE shown ORDER BY task, K")
    axes = panels(figures, "k_sensitivity", {t for t, _, _ in view})
    drawn = []
    for task, ax in axes.items():
        line = ax.lines[0]  # the mean over seeds (then the K = 16 mark and the best-K circle)
        assert line.get_marker() == "o" and line.get_linestyle() == "-"
        drawn += [(task, int(k), pytest.approx(m)) for k, m in zip(line.get_xdata(), line.get_ydata())]
    assert sorted(drawn, key=lambda r: r[:2]) == view


def check_learning_curves(figures: dict, con: duckdb.DuckDBPyConnection) -> None:
    """One panel per task of Table 4's rows with our runs; per method label, the mean over the finished shown
    runs of `learning_curves` at each step; where every shown run finished, its last point is task_scores' mean."""
    view = rows(con, """
        SELECT task, label, step, avg(score) FROM learning_curves
        WHERE shown AND status = 'finished' AND label IN (SELECT label FROM methods)
        GROUP BY ALL ORDER BY ALL""")
    tasks = {t for (t,) in rows(con, "SELECT DISTINCT task FROM table4 WHERE n_seeds > 0")}
    axes = panels(figures, "learning_curves", tasks)
    assert set(axes) == tasks
    drawn = [(task, line.get_label(), int(x), pytest.approx(y)) for task, ax in axes.items() for line in ax.lines
             for x, y in zip(line.get_xdata(), line.get_ydata())]
    assert sorted(drawn, key=lambda r: r[:3]) == view
    finals = {(t, lb): y for t, lb, _, y in sorted(drawn, key=lambda r: r[:3])}  # the last step of each curve
    for task, label, mean in rows(con, "SELECT task, label, mean FROM task_scores WHERE shown AND n_diverged = 0 "
                                       "AND n_unfinished = 0"):
        assert finals[task, label] == pytest.approx(mean), (task, label)


def check_runtime(figures: dict, con: duckdb.DuckDBPyConnection) -> None:
    """The bars are `runtime`'s shown rows, in the methods' display order then K: training ms per update on the
    left, inference ms per step on the right."""
    view = rows(con, """
        SELECT v.ms_per_update, v.ms_per_inference_step FROM runtime v
        LEFT JOIN methods m ON m.method = v.method AND m.is_default
        WHERE v.shown ORDER BY m.ord, v.K""")
    train, infer = figures["runtime"].axes[:2]
    assert [pytest.approx(bar.get_height()) for bar in train.patches] == [t for t, _ in view]
    assert [pytest.approx(bar.get_height()) for bar in infer.patches] == [i for _, i in view]


def check_performance_profile(figures: dict, con: duckdb.DuckDBPyConnection) -> None:
    """Per Table 1 family and method label, the fraction of the counted shown runs (`shown_runs`, for_table1:
    the runs of stats.md) scoring above each tau."""
    view = rows(con, """
        SELECT table1_family, label, list(counted_score) FROM shown_runs
        WHERE for_table1 AND counted AND counted_score IS NOT NULL AND label IN (SELECT label FROM methods)
        GROUP BY ALL""")
    axes = {ax.get_title(): ax for ax in figures["performance_profile"].axes if ax.get_visible()}
    drawn = {(family, line.get_label()): line.get_ydata() for family, ax in axes.items() for line in ax.lines}
    assert set(drawn) == {(family, f"{label} ({len(scores)} runs)") for family, label, scores in view}
    for family, label, scores in view:
        expected = (np.asarray(scores)[None, :] > np.asarray(TAUS)[:, None]).mean(axis=1)
        assert np.array_equal(drawn[family, f"{label} ({len(scores)} runs)"], expected), (family, label)


CHECKS = {"k_sensitivity": check_k_sensitivity, "learning_curves": check_learning_curves, "runtime": check_runtime,
          "performance_profile": check_performance_profile}
