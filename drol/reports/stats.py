"""Statistics of our runs: IQM, stratified bootstrap confidence intervals and performance profiles.

scipy only: `scipy.stats.trim_mean` for the IQM, as rliable does; `scipy.stats.bootstrap` with one sample per
task and `paired=False`, i.e. seeds resampled with replacement within each task: rliable's stratified
bootstrap. rliable itself needs `arch`, whose releases rliable accepts (< 8) fail to import with pandas 3.
Output is deterministic (fixed bootstrap seed).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats as sps

from drol.reports.model import NOT_IN_PAPER, SUITE_TITLES
from drol.reports.select import Setting, method_labels, opened, records, table1_runs

TAUS = tuple(range(101))
N_RESAMPLES = 10_000
CONFIDENCE = 0.95
BOOTSTRAP_SEED = 0


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

    The runs are the finished runs of the setting Table 1 shows for the family and method (view
    `shown_runs`, for_table1): the performance-profile figure draws the same runs.
    """
    with opened(db_path) as con:
        labels = [m.label for m in method_labels(con)]
        info = {r["family"]: r for r in records(
            con, "SELECT coalesce(paper_family, family) AS family, min(ord) AS ord, any_value(suite) AS suite, "
                 "bool_and(paper_family IS NULL) AS not_in_paper, count(*) AS n_tasks FROM tasks GROUP BY ALL")}
        runs = table1_runs(con)
    grouped: dict[tuple[str, str], list[dict]] = {}
    for r in runs:
        grouped.setdefault((r["family"], r["label"]), []).append(r)
    out = []
    families = sorted({f for f, _ in grouped},
                      key=lambda f: (info.get(f, {}).get("not_in_paper", True), info.get(f, {}).get("ord", 0), f))
    taus = np.asarray(TAUS, dtype=float)
    for fam in families:
        for label in labels:
            rows = grouped.get((fam, label))
            if not rows:
                continue
            strata: dict[str, list[float]] = {}
            for r in rows:
                strata.setdefault(r["task"], []).append(float(r["score"]))
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
            out.append(FamilyStats(fam, group, label, Setting.of(rows[0]), {t: strata[t] for t in sorted(strata)},
                                   meta.get("n_tasks", len(strata)), iqm(np.concatenate(samples)),
                                   float(np.mean(np.concatenate(samples))), ci, note,
                                   performance_profile(samples, taus), profile_ci))
    return out
