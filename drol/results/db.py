"""Build results.duckdb from run directories; query it read-only.

`build_database` loads every run directory (run.json, evals.parquet, train_metrics.parquet,
snapshots.parquet, timing.json; see drol/seedrun.py) plus the reference tables of drol/registry/ into a new
database: tables from schema.sql, then the views of views.sql, then the `metrics` table and the comments
on every table, view and column (drol/results/catalog.py). It writes a temporary file next to the
output and renames it onto the output, so a reader never sees a half-built database. The same run
directories give the same content: rows are inserted in a fixed order and nothing of the build (time,
host) is stored.

The file is written in DuckDB's v1.0.0 storage format (STORAGE_VERSION below), readable by DuckDB 1.0 and
later clients; a file in DuckDB 2.0's default format could only be opened by DuckDB 2.0.

Method labels of a run (table run_labels) come from its run.json (`labels`: every method label its
configuration stands for, `K-sweep`, and workflow tags such as `runtime`), written when the run was
resolved; the build never re-derives them and never imports torch. The `methods` table is the method
registry (drol.methods): views join it instead of naming labels.
"""

from __future__ import annotations

import errno
import io
import json
import os
import tempfile
from importlib import resources
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from drol.live import EVAL_COLUMNS, read_live
from drol.methods import STUDY_LABELS, method_rows
from drol.results.catalog import describe
from drol.rundir import FileLock
from drol.tasks import Task, UnknownName, get_task, registry

STORAGE_VERSION = "v1.0.0"  # oldest DuckDB storage format: readable by every DuckDB 1.x client
# Tables in load order (also the keys of build_database's return value).
TABLES = ("tasks", "hparams", "methods", "runs", "run_labels", "evaluations", "train_metrics", "timings", "snapshots",
          "snapshot_states", "paper_scores", "paper_family_scores", "d4rl_ref_scores", "metrics")
# Our task families -> the family names of the paper's Table 1 (paper_table1.csv). The paper groups the
# twelve adroit tasks (our four d4rl-adroit-* families) into one family, `adroit`.
PAPER_FAMILY = {
    "antmaze-large-navigate": "antmaze-large-singletask",
    "antmaze-giant-navigate": "antmaze-giant-singletask",
    "humanoidmaze-medium-navigate": "humanoidmaze-medium-singletask",
    "humanoidmaze-large-navigate": "humanoidmaze-large-singletask",
    "antsoccer-arena-navigate": "antsoccer-arena-singletask",
    "cube-single-play": "cube-single-singletask",
    "cube-double-play": "cube-double-singletask",
    "scene-play": "scene-singletask",
    "puzzle-3x3-play": "puzzle-3x3-singletask",
    "puzzle-4x4-play": "puzzle-4x4-singletask",
    "d4rl-antmaze": "antmaze",
    "d4rl-adroit-pen": "adroit",
    "d4rl-adroit-door": "adroit",
    "d4rl-adroit-hammer": "adroit",
    "d4rl-adroit-relocate": "adroit",
}
# Keys of the tables (schema.sql declares no PRIMARY KEY, see there): checked after loading.
KEYS = {"tasks": ("name",), "hparams": ("task", "label", "source"), "methods": ("label",), "runs": ("run_id",),
        "run_labels": ("run_id", "label"), "evaluations": ("run_id", "step", "episode"), "timings": ("run_id",),
        "snapshots": ("run_id", "step", "state_id", "candidate"), "snapshot_states": ("run_id", "state_id"),
        "paper_scores": ("task", "label"), "paper_family_scores": ("family", "label"), "d4rl_ref_scores": ("task",)}
# Files a run writes when it ends (finished or diverged); a running run may have none of them yet.
REQUIRED_WHEN_ENDED = ("evals.parquet", "train_metrics.parquet", "timing.json")
BUILD_HINT = "drol build-db results/runs --out results.duckdb"


class ResultsError(ValueError):
    """A problem a user can fix (missing database, bad run directory, SQL error): one line naming it and the fix."""


def one_line(err: BaseException) -> str:
    lines = []
    for line in str(err).splitlines():
        line = line.strip()
        if line.startswith("LINE ") or line.startswith("^"):
            break
        if line:
            lines.append(line)
    return "; ".join(lines) or type(err).__name__



# Run directories
def find_run_dirs(paths: list[Path | str]) -> list[Path]:
    """Run directories (holding run.json) among `paths`: a run directory itself, or a root searched recursively.

    Hidden directories (.snakemake, .git, temporary files) are skipped; the search does not descend into a
    run directory. Sorted and without duplicates.
    """
    found: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_file() and path.name == "run.json":
            path = path.parent
        if not path.is_dir():
            raise ResultsError(f"run directory or root {str(path)!r} does not exist; pass a run directory "
                               "(holding run.json) or a directory to search, e.g. results/runs")
        if (path / "run.json").is_file():
            found.add(path.resolve())
            continue
        for dirpath, dirnames, filenames in os.walk(path):
            if "run.json" in filenames:
                found.add(Path(dirpath).resolve())
                dirnames.clear()
            else:
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
    return sorted(found)


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ResultsError(f"{path}: not readable JSON ({one_line(err)}); rerun `drol train` on that directory "
                           "or remove it") from None
    if not isinstance(value, dict):
        raise ResultsError(f"{path}: expected a JSON object; rerun `drol train` on that directory or remove it")
    return value


def _read_parquet(path: Path, columns: tuple[str, ...] = ()) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except Exception as err:  # pyarrow raises several types for truncated or foreign files
        raise ResultsError(f"{path}: not a readable Parquet file ({one_line(err)}); rerun `drol train` on "
                           "that directory or remove it") from None
    _require_columns(path, frame, columns)
    return frame


def _require_numeric(path: Path, frame: pd.DataFrame, columns: tuple[str, ...]) -> None:
    bad = [c for c in columns if not (pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]))]
    if bad:
        raise ResultsError(f"{path}: column {bad[0]} holds {frame[bad[0]].dtype} values, not numbers; it was not "
                           "written by `drol train`: rerun the run or remove its directory")


def _require_columns(path: Path, frame: pd.DataFrame, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ResultsError(f"{path}: missing column(s) {', '.join(missing)}; it was not written by `drol train` "
                           "of this version: rerun the run or remove its directory")


# Reference tables
def _normalised(values: dict) -> dict:
    return json.loads(json.dumps(values, sort_keys=True, default=list))


def paper_family(task: Task) -> str | None:
    """The family name of the paper's Table 1 that `task` belongs to (None for the toy task)."""
    return PAPER_FAMILY.get(task.family)


def _registry_csv(name: str) -> pd.DataFrame:
    text = resources.files("drol.registry").joinpath(name).read_text()
    return pd.read_csv(io.StringIO(text), dtype={"mark": "string", "hdf5_file": "string"})


def _task_rows() -> list[dict]:
    return [{"name": t.name, "ord": i, "suite": t.suite, "family": t.family, "paper_family": paper_family(t),
             "representative": t.representative, "offline_steps": t.offline_steps,
             "episode_limit": t.episode_limit, "scorer": t.scorer}
            for i, t in enumerate(registry().values())]


def _hparam_rows() -> list[dict]:
    rows = []
    for task in registry().values():
        for label, by_source in task.hparams.items():
            for source, values in by_source.items():
                coef_name = "bc_coef" if "bc_coef" in values else "alpha"
                rows.append({"task": task.name, "label": label, "source": source, "coef_name": coef_name,
                             "coef": values[coef_name], "K": values.get("num_candidates"),
                             "discount": values["discount"], "q_agg": values["q_agg"],
                             "normalize_q_loss": values["normalize_q_loss"],
                             "overrides": json.dumps(_normalised(values), sort_keys=True),
                             "provenance": task.provenance.get(label, "")})
    return rows


def _method_rows(runs: list[dict]) -> list[dict]:
    """The registry's labels, then any method label a run carries that this process has not registered
    (a method registered by other code): it still shows in the views, after the registered ones."""
    rows = method_rows()
    known = {row["label"] for row in rows}
    for run in runs:
        method = run["runs"]["method"]
        for item in run["run_labels"]:
            if item["label"] not in known and item["label"] not in STUDY_LABELS:
                known.add(item["label"])
                rows.append({"label": item["label"], "method": method, "ord": len(rows), "is_default": False,
                             "has_k": run["runs"]["K"] is not None, "one_step": True, "colour": "#949494",
                             "marker": "o", "linestyle": "-", "description": "not in this process's registry"})
    return rows


def _paper_frames() -> dict[str, pd.DataFrame]:
    t4 = _registry_csv("paper_table4.csv").rename(columns={"method": "label"})
    t4.insert(0, "ord", range(len(t4)))
    t4["representative"] = t4["representative"].astype(bool)
    t1 = _registry_csv("paper_table1.csv").rename(columns={"method": "label"})
    t1.insert(0, "ord", range(len(t1)))
    return {"paper_scores": t4, "paper_family_scores": t1, "d4rl_ref_scores": _registry_csv("d4rl_ref_scores.csv")}


# One run directory
def _relative(path: Path, base: Path) -> str:
    try:
        return Path(os.path.relpath(path, base)).as_posix()
    except ValueError:  # another drive (Windows)
        return path.as_posix()


def _load_run(run_dir: Path, base: Path) -> dict:
    run = _read_json(run_dir / "run.json")
    missing = [k for k in ("run_id", "method", "task", "seed", "config", "status") if k not in run]
    if missing:
        raise ResultsError(f"{run_dir / 'run.json'}: missing {', '.join(missing)}; it was not written by "
                           "`drol train` of this version: rerun it or remove the directory")
    if run["status"] in ("finished", "diverged"):
        absent = [name for name in REQUIRED_WHEN_ENDED if not (run_dir / name).is_file()]
        if absent:
            raise ResultsError(f"{run_dir}: status {run['status']} but {', '.join(absent)} missing; rerun "
                               "`drol train` on that directory (delete its run.json to retrain) or remove it")
    run_id = run["run_id"]
    timing = _read_json(run_dir / "timing.json") if (run_dir / "timing.json").is_file() else None
    agent, train = run["config"].get("agent", {}), run["config"].get("train", {})
    dataset = run.get("dataset") or {}
    try:
        task = get_task(run["task"])
    except UnknownName:
        task = None
    for key in ("seed", "step", "steps"):
        if key in run and (not isinstance(run[key], int) or isinstance(run[key], bool)):
            raise ResultsError(f"{run_dir / 'run.json'}: {key} is {run[key]!r}, not an integer; rerun `drol train` "
                               "on that directory or remove it")
    row = {
        "run_id": run_id, "method": run["method"], "task": run["task"],
        "suite": run.get("suite", task.suite if task else ""), "family": run.get("family", task.family if task else ""),
        "seed": run["seed"], "K": run.get("K", agent.get("num_candidates")),
        "hparams_source": train.get("hparams_source"),
        "steps": train.get("steps", run.get("steps")), "batch_size": train.get("batch_size"),
        "eval_episodes": train.get("eval_episodes"), "actor_hidden_dims": agent.get("actor_hidden_dims"),
        "value_hidden_dims": agent.get("value_hidden_dims"), "status": run["status"], "step": run.get("step"),
        "checkpoint_step": run.get("checkpoint_step"),
        "diverged_at_step": run.get("diverged_at_step"),
        "wall_time_s": timing.get("wall_time_s") if timing else None, "device": run.get("device"),
        "data_route": dataset.get("route"), "success_timing": train.get("success_timing"),
        "mujoco": (run.get("versions") or {}).get("mujoco"), "dataset_fingerprint": dataset.get("fingerprint"),
        "dataset_size": dataset.get("size"), "obs_dim": run.get("obs_dim"), "action_dim": run.get("action_dim"),
        "config": json.dumps(run["config"], sort_keys=True),
        "versions": json.dumps(run.get("versions"), sort_keys=True),
        "git_commit": (run.get("git") or {}).get("commit"), "git_dirty": (run.get("git") or {}).get("dirty"),
        "dataset_info": json.dumps(dataset.get("info"), sort_keys=True), "run_dir": _relative(run_dir, base),
    }
    labels = run.get("labels", [])
    if not (isinstance(labels, list) and all(isinstance(label, str) for label in labels)):
        raise ResultsError(f"{run_dir / 'run.json'}: `labels` must be a list of strings; rerun `drol train` on that "
                           "directory or remove it")
    out = {"runs": row, "run_labels": [{"run_id": run_id, "label": label} for label in dict.fromkeys(labels)]}
    if timing is not None:
        out["timings"] = {"run_id": run_id, "block_seeds": timing.get("block_seeds", 1), **{k: timing.get(k) for k in (
            "ms_per_update", "ms_per_inference_step", "eval_env_steps_per_s", "wall_time_s", "updates_timed",
            "device")}}  # block_seeds: 1 in timing.json written before seed blocks
    frames = {}
    if (run_dir / "evals.parquet").is_file():
        frames["evaluations"] = _read_parquet(run_dir / "evals.parquet", EVAL_COLUMNS)
        _require_numeric(run_dir / "evals.parquet", frames["evaluations"], EVAL_COLUMNS)
    if (run_dir / "train_metrics.parquet").is_file():
        frames["train_metrics"] = _read_parquet(run_dir / "train_metrics.parquet", ("step", "name", "value"))
        _require_numeric(run_dir / "train_metrics.parquet", frames["train_metrics"], ("step", "value"))
    if run["status"] not in ("finished", "diverged"):  # what a run still training has recorded so far
        for kind, table, columns in (("evals", "evaluations", EVAL_COLUMNS), ("metrics", "train_metrics", None)):
            live = read_live(run_dir, kind)
            if live is not None and table not in frames:
                frames[table] = live
                _require_numeric(run_dir / "live", live, columns or ("step", "value"))
    if (run_dir / "snapshots.parquet").is_file():
        snaps = _read_parquet(run_dir / "snapshots.parquet")
        if len(snaps):
            _require_columns(run_dir / "snapshots.parquet", snaps, ("step", "state_id", "candidate", "a0"))
            cols = sorted((c for c in snaps.columns if c[:1] == "a" and c[1:].isdigit()), key=lambda c: int(c[1:]))
            frames["snapshots"] = pd.DataFrame({"step": snaps["step"], "state_id": snaps["state_id"],
                                                "candidate": snaps["candidate"],
                                                "action": snaps[cols].to_numpy(dtype=float).tolist()})
    for frame in frames.values():
        frame.insert(0, "run_id", run_id)
    out["frames"] = frames
    out["snapshot_states"] = [{"run_id": run_id, "state_id": i, "observation": [float(v) for v in obs]}
                              for i, obs in enumerate(run.get("snapshot_states") or [])]
    return out


# Building
_ARROW = {"VARCHAR": pa.string(), "INTEGER": pa.int32(), "BIGINT": pa.int64(), "DOUBLE": pa.float64(),
          "BOOLEAN": pa.bool_()}


def _arrow_type(duck_type: str) -> pa.DataType:
    if duck_type.endswith("[]"):
        return pa.list_(_arrow_type(duck_type[:-2]))
    return _ARROW[duck_type]


def _insert(con: duckdb.DuckDBPyConnection, table: str, data: list[dict] | pd.DataFrame) -> None:
    columns = con.execute(f"SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = 'results' "
                          f"AND table_name = '{table}' ORDER BY column_index").fetchall()
    schema = pa.schema([(name, _arrow_type(kind)) for name, kind in columns])
    if isinstance(data, pd.DataFrame):
        arrow = pa.Table.from_pandas(data[[name for name, _ in columns]], schema=schema, preserve_index=False)
    else:
        arrow = pa.Table.from_pylist(data, schema=schema)
    con.register("_rows", arrow)
    try:
        con.execute(f'INSERT INTO "{table}" SELECT * FROM _rows')
    finally:
        con.unregister("_rows")


def _concat(frames: list[pd.DataFrame], keys: list[str], columns: list[str]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    return pd.concat(frames, ignore_index=True).sort_values(keys, kind="stable", ignore_index=True)


def _sql(name: str) -> str:
    return resources.files("drol.results").joinpath(name).read_text()


def build_database(run_dirs: list[Path], out_path: Path) -> dict[str, int]:
    """Load `run_dirs` and the reference tables into a new database at `out_path` (atomic); rows per table."""
    out_path = Path(out_path)
    if out_path.is_dir():
        raise ResultsError(f"--out {out_path} is a directory; pass a file name, e.g. {out_path / 'results.duckdb'}")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    busy = f"{out_path} is being built by {{holder}}; wait for that build to end (or stop it), then rerun"
    with FileLock(out_path.parent / f".{out_path.name}.lock", busy):
        # Leftovers of a killed build (its temporary database and WAL); no other build runs now.
        for stale in out_path.parent.glob(f".{out_path.name}.*.tmp*"):
            stale.unlink(missing_ok=True)
        try:
            return _build_locked(run_dirs, out_path)
        except (duckdb.IOException, OSError) as err:
            if "No space left" in str(err) or getattr(err, "errno", None) == errno.ENOSPC:
                raise ResultsError(f"no space left on {out_path.parent} while building {out_path.name}; free space "
                                   "and rerun (the previous database is intact)") from None
            raise


def _build_locked(run_dirs: list[Path], out_path: Path) -> dict[str, int]:
    base = out_path.parent.resolve()
    runs = [_load_run(Path(d).resolve(), base) for d in run_dirs]
    by_id: dict[str, dict] = {}
    for run in runs:
        other = by_id.setdefault(run["runs"]["run_id"], run)
        if other is not run:
            raise ResultsError(f"run {run['runs']['run_id']} is in two directories, {other['runs']['run_dir']} and "
                               f"{run['runs']['run_dir']} (relative to {base}); remove one of them")
    runs = [by_id[run_id] for run_id in sorted(by_id)]

    fd, tmp_name = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # DuckDB creates the file itself
    con = duckdb.connect(config={"preserve_insertion_order": True})
    try:
        con.execute(f"ATTACH '{_quote(tmp)}' AS results (STORAGE_VERSION '{STORAGE_VERSION}')")
        con.execute("USE results")
        con.execute(_sql("schema.sql"))
        _insert(con, "tasks", _task_rows())
        _insert(con, "hparams", _hparam_rows())
        _insert(con, "methods", _method_rows(runs))
        _insert(con, "runs", [r["runs"] for r in runs])
        _insert(con, "run_labels", [row for r in runs for row in r["run_labels"]])
        keys = {"evaluations": ["run_id", "step", "episode"], "train_metrics": ["run_id", "step"],
                "snapshots": ["run_id", "step", "state_id", "candidate"]}
        for table, key in keys.items():
            columns = [c for (c,) in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE database_name = 'results' AND table_name = ? "
                "ORDER BY column_index", [table]).fetchall()]
            _insert(con, table, _concat([r["frames"][table] for r in runs if table in r["frames"]], key, columns))
        _insert(con, "timings", [r["timings"] for r in runs if "timings" in r])
        _insert(con, "snapshot_states", [row for r in runs for row in r["snapshot_states"]])
        for table, frame in _paper_frames().items():
            _insert(con, table, frame)
        _check_keys(con)
        con.execute(_sql("views.sql"))
        describe(con)  # the metrics table, and a comment on every table, view and column
        counts = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in TABLES}
        con.execute("USE memory")
        con.execute("DETACH results")  # checkpoints: the file is complete, no WAL left
        con.close()
        os.chmod(tmp, 0o644)
        os.replace(tmp, out_path)
    except BaseException:
        con.close()
        for leftover in (tmp, Path(f"{tmp}.wal")):
            leftover.unlink(missing_ok=True)
        raise
    return counts


def _check_keys(con: duckdb.DuckDBPyConnection) -> None:
    for table, key in KEYS.items():
        cols = ", ".join(f'"{c}"' for c in key)
        dup = con.execute(f'SELECT {cols}, count(*) AS n FROM "{table}" GROUP BY ALL HAVING count(*) > 1 '
                          f"ORDER BY ALL LIMIT 1").fetchone()
        if dup is None:
            continue
        where = dict(zip(key, dup[:-1]))
        if "run_id" in where:
            (run_dir,) = con.execute("SELECT run_dir FROM runs WHERE run_id = ?", [where["run_id"]]).fetchone()
            hint = f"the run directory {run_dir} holds duplicate records: rerun `drol train` on it or remove it"
        else:
            hint = "the package's registry data is inconsistent: reinstall drol"
        raise ResultsError(f"table {table}: {dup[-1]} rows with the same key {where}; {hint}")


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")
