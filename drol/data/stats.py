"""Statistics of an OGBench dataset file beside what OGBench documents for the released one.

OGBench documents its released datasets through the recipe that made them (`data_gen_scripts/commands.sh`:
episodes and steps per episode; `drol.data.generate.REGENERABLE` holds those values), the ratio of
validation episodes (one tenth), and the environment's spaces (observation and action dims; actions in
[-1, 1]). It does not publish observation ranges, so those are reported without a reference. `drol
data-stats` prints the comparison for a regenerated (or downloaded) dataset.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from drol.data.generate import VAL_FRACTION, spec_for
from drol.data.ogbench import check_file


@dataclass(frozen=True)
class Row:
    quantity: str
    ours: str
    released: str  # what OGBench documents ("-" where it documents nothing)

    @property
    def verdict(self) -> str:
        if self.released == "-":
            return ""
        return "same" if self.ours == self.released else "differs"


def file_stats(path: Path) -> dict:
    """Episodes, rows, episode lengths, dims and value ranges of one OGBench .npz (checked first)."""
    check_file(path)
    with np.load(path) as file:
        obs, actions, terminals = file["observations"], file["actions"], file["terminals"] != 0
    ends = np.flatnonzero(terminals)
    lengths = np.diff(np.concatenate([[-1], ends]))
    return {"episodes": int(len(ends)), "rows": int(len(terminals)), "length_min": int(lengths.min()),
            "length_max": int(lengths.max()), "obs_dim": int(obs.shape[1]), "action_dim": int(actions.shape[1]),
            "action_min": float(actions.min()), "action_max": float(actions.max()),
            "action_at_bound": float(np.mean(np.abs(actions) >= 1.0)), "obs_min": float(obs.min()),
            "obs_max": float(obs.max()), "obs_std_mean": float(obs.std(axis=0).mean())}


def compare_with_released(name: str, data_dir: Path) -> list[Row]:
    """Rows comparing the dataset's train and -val files in `data_dir` with OGBench's released dataset."""
    from drol.data.generate import dataset_name_for
    from drol.data.ogbench import make_env

    stem = dataset_name_for(name)
    spec = spec_for(name, data_dir)
    train, val = (file_stats(Path(data_dir) / f"{stem}{suffix}.npz") for suffix in ("", "-val"))
    env = make_env(f"{stem.removesuffix('-v0')}-singletask-task1-v0", "post")
    try:
        with warnings.catch_warnings():  # manipspace builds its spaces lazily, warning about float64 bounds
            warnings.simplefilter("ignore")
            obs_dim, action_dim = env.observation_space.shape[0], env.action_space.shape[0]
    finally:
        env.close()
    n_val = max(1, spec.episodes // VAL_FRACTION)
    length = spec.episode_length
    return [
        Row("training episodes", f"{train['episodes']:,}", f"{spec.episodes:,}"),
        Row("training rows (transitions + one last state per episode)", f"{train['rows']:,}",
            f"{spec.episodes * length:,}"),
        Row("steps per episode", _span(train["length_min"], train["length_max"]), f"{length:,}"),
        Row("validation episodes", f"{val['episodes']:,}", f"{n_val:,}"),
        Row("validation rows", f"{val['rows']:,}", f"{n_val * length:,}"),
        Row("observation dim", str(train["obs_dim"]), str(obs_dim)),
        Row("action dim", str(train["action_dim"]), str(action_dim)),
        Row("action range", f"[{train['action_min']:.3g}, {train['action_max']:.3g}]", "[-1, 1]"),
        Row("actions at a bound (±1)", f"{100 * train['action_at_bound']:.2f}%", "-"),
        Row("observation range (all dims)", f"[{train['obs_min']:.3g}, {train['obs_max']:.3g}]", "-"),
        Row("observation std, mean over dims", f"{train['obs_std_mean']:.3g}", "-"),
    ]


def _span(low: int, high: int) -> str:
    return f"{low:,}" if low == high else f"{low:,}-{high:,}"


def stats_table(name: str, data_dir: Path) -> str:
    """The comparison as a Markdown table."""
    rows = compare_with_released(name, data_dir)
    lines = ["| quantity | this file | OGBench's released dataset | |", "|---|---|---|---|"]
    lines += [f"| {r.quantity} | {r.ours} | {r.released} | {r.verdict} |" for r in rows]
    return "\n".join(lines)
