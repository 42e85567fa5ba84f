"""drol: train DROL and FQL runs, regenerate data, build and query results.duckdb, write the reports.

Errors a user can fix (an unknown name, a bad --set, a conflicting run directory, a data problem) print
one line naming the thing and the fix, and exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

import pandas as pd

import drol

EXIT_USAGE = 2


def _train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from drol.config import RunSpec, parse_sets, resolve_run
    from drol.data import DataSettings
    from drol.devices import resolve_device
    from drol.train import train_block

    if args.spec:
        given = _read_spec(args.spec)
        specs = [RunSpec.from_dict(value) for value in (given if isinstance(given, list) else [given])]
        if args.seed is not None:
            if len(specs) > 1:
                raise ValueError("--seed with a --spec list: the list already names its seeds; give one or the other")
            specs = [replace(specs[0], seed=seed) for seed in args.seed]
    else:
        if not (args.method and args.task):
            raise ValueError("give --method and --task (or --spec with a resolved run)")
        data = DataSettings(data_dir=args.data_dir, offline=not args.download, d4rl_route=args.d4rl_route)
        spec = resolve_run(args.method, args.task, (args.seed or [0])[0], parse_sets(args.set or [], args.method),
                           args.label, data=data.for_task(args.task))
        specs = [replace(spec, seed=seed) for seed in args.seed or [0]]
    seeds = [spec.seed for spec in specs]
    if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ValueError(f"--seed {' '.join(map(str, seeds))}: give distinct seeds >= 0")
    if args.out and len(seeds) > 1:
        raise ValueError("--out names one run directory: with several seeds use --runs-root (each seed gets its "
                         "own directory under it)")
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads {args.threads}: give a number of CPU threads >= 1 (or leave it out for all cores)")
    device = resolve_device(args.device)
    if args.update_mode not in (None, "eager") and device.type != "cuda":
        raise ValueError(f"--update-mode {args.update_mode} needs a CUDA device (this run is on {device}); "
                         "use --update-mode eager")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    outs = [Path(args.out)] if args.out else [s.run_dir(args.runs_root) for s in specs]
    statuses = train_block(specs, outs, device=str(device), progress=not args.no_progress, mode=args.update_mode,
                           checkpoints=args.checkpoints, logger=args.logger)
    for status, out in zip(statuses, outs):
        print(f"{status}: {out}")
    # A signal stops the run after a checkpoint; report it like a killed process so schedulers retry it.
    return 0 if all(status in ("finished", "diverged") for status in statuses) else 128 + 15


def _read_spec(text: str) -> dict:
    """A run spec given inline as JSON (the workflow's way) or as a path to a JSON file."""
    try:
        value = json.loads(text if text.lstrip()[:1] in ("{", "[") else Path(text).read_text())
    except OSError as err:
        raise ValueError(f"--spec {text}: cannot read it ({err.strerror}); pass a JSON object or a spec file") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"--spec: not valid JSON ({err.msg} at line {err.lineno}); write it with RunSpec.to_dict"
                         ) from None
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return value
    if not isinstance(value, dict):
        raise ValueError("--spec: expected a JSON object (a resolved run, as run.json's `spec`) or a list of them "
                         "(a block of seeds)")
    return value


def _gen_data(args: argparse.Namespace) -> int:
    from drol.data import get_suite
    from drol.data.gen_files import generate_dataset, generate_shard, merge_shards
    from drol.data.generate import dataset_name_for

    data_dir = Path(args.data_dir) if args.data_dir else get_suite("ogbench").default_data_dir()
    name = dataset_name_for(args.target)
    if args.shard is not None and args.merge:
        raise ValueError("--shard and --merge: give one (generate one shard, or merge them all)")
    if (args.shard is not None or args.merge) and args.shards is None:
        raise ValueError("--shard/--merge need --shards N (how many shards the dataset is split into)")
    if args.shard is not None:
        paths = [generate_shard(name, args.episodes, args.seed, data_dir, args.shard, args.shards,
                                progress=not args.no_progress)]
    elif args.merge:
        paths = merge_shards(name, args.episodes, args.seed, data_dir, args.shards)
    else:
        paths = generate_dataset(name, args.episodes, args.seed, data_dir, progress=not args.no_progress,
                                 shards=args.shards or 1)
    for path in paths:
        print(path)
    return 0


def _status(args: argparse.Namespace) -> int:
    from drol.results.db import ResultsError
    from drol.status import format_status, run_status

    try:
        frame = run_status(Path(args.root), args.task, args.label, args.method, args.status)
    except ResultsError as err:
        raise ValueError(str(err)) from None
    text = format_status(frame, args.format)
    print(text if text.endswith("\n") else text + "\n", end="")
    return 0


def _fetch_data(args: argparse.Namespace) -> int:
    from drol.data.fetch import fetch, read_checksums, resolve

    files = resolve(args.targets, ogbench_dir=args.data_dir, d4rl_dir=args.d4rl_dir, base_url=args.base_url)
    if not files:
        print(f"nothing to download: {' '.join(args.targets)} reads no published dataset file (the toy task's data "
              "is generated in code)")
        return 0
    checksums = read_checksums(Path(args.checksums)) if args.checksums else {}
    for file in files:
        if args.dry_run:
            print(f"{'present' if file.path.exists() else 'missing':10} {file.path}  <-  {file.url}")
        else:
            status = fetch(file, checksums.get(file.path.name), progress=not args.no_progress)
            print(f"{status:10} {file.path}")
    return 0


def _data_stats(args: argparse.Namespace) -> int:
    from drol.data import get_suite
    from drol.data.stats import stats_table

    data_dir = Path(args.data_dir) if args.data_dir else get_suite("ogbench").default_data_dir()
    print(stats_table(args.target, data_dir))
    return 0


def _report(args: argparse.Namespace) -> int:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(message)s")  # figures log what they skip and why
    db = Path(args.db)
    if not db.exists():
        raise ValueError(f"database {db} not found; build it with `drol build-db` (or run the workflow)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    if args.what in ("tables", "all"):
        from drol.reports.tables import write_tables

        paths += write_tables(db, out, args.note)
    if args.what in ("figures", "all"):
        from drol.reports.figures import FIGURES, write_figures

        if args.only:
            paths += FIGURES[args.only](db, out, label=args.note)
            if not paths:
                raise ValueError(f"no data for figure {args.only} in {db}; see the log above for what it needs")
        else:
            paths += write_figures(db, out, args.note)
    for path in paths:
        print(path)
    return 0


def _data_status(task, data_dir: Path | None) -> str:
    """Where a task's data stands: built in, present, regenerable here, or download only."""
    from drol.data import DataSettings, suite_of

    return suite_of(task).data_status(task, DataSettings(data_dir=str(data_dir) if data_dir else None))


def _tasks(args: argparse.Namespace) -> int:
    from drol.methods import labels
    from drol.tasks import registry

    data_dir = Path(args.data_dir).expanduser() if args.data_dir else None
    rows = [{"task": t.name, "suite": t.suite, "family": t.family, "rep": "*" if t.representative else "",
             "steps": t.offline_steps, "episode_limit": t.episode_limit,
             **{label: _hparam_summary(t, label) for label in labels()},
             "data": _data_status(t, data_dir)}
            for t in registry().values()
            if args.suite in (None, t.suite) and args.family in (None, t.family)]
    if not rows:
        print(f"no task matches suite={args.suite} family={args.family}", file=sys.stderr)
        return EXIT_USAGE
    print(pd.DataFrame(rows).to_string(index=False))
    return 0


def _hparam_summary(task, label: str) -> str:
    from drol.methods import get_label

    try:
        values = get_label(label)[1].resolve(task, "table3")
    except KeyError:
        return ""
    coef = values.get("bc_coef", values.get("alpha"))
    k = f", K={values['num_candidates']}" if "num_candidates" in values else ""
    return f"{coef:g}{k}"


def _bench(args: argparse.Namespace) -> int:
    from drol.bench import BENCH_CASES, run_bench

    if args.repeats < 1:
        raise ValueError(f"--repeats {args.repeats}: give a number of timed updates >= 1 (default 30)")
    cases = args.cases.split(",") if args.cases else None
    unknown = [c for c in cases or [] if c not in BENCH_CASES]
    if unknown:
        from drol.tasks import UnknownName

        raise UnknownName(f"unknown bench case {unknown[0]!r}; choose from {', '.join(BENCH_CASES)}")
    modes = args.modes.split(",") if args.modes else None
    from drol.step import MODES

    bad = [m for m in modes or [] if m not in MODES]
    if bad:
        raise ValueError(f"--modes {args.modes}: {bad[0]!r} is not a mode; choose from {', '.join(MODES)}")
    result = run_bench(cases, repeats=args.repeats, device=args.device, modes=modes)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    shapes = "; ".join("{}: batch {batch_size}, obs {obs_dim}, act {action_dim}".format(name, **shape)
                       for name, shape in result["shapes"].items())
    print(f"device: {result['device']}, torch {result['torch']}, median of {result['repeats']} updates ({shapes})")
    print(pd.DataFrame(result["cases"]).to_string(index=False, float_format="%.3f", na_rep=""))
    for name, value in result["ratios"].items():
        print(f"{name}: {value:.3f}")
    return 0


def _gpu_check(args: argparse.Namespace) -> int:
    import torch

    from drol.gpu_check import gpu_check

    if not torch.cuda.is_available():
        raise ValueError(f"gpu-check needs a CUDA GPU; this torch ({torch.__version__}) sees none (drol bench "
                         "measures a CPU)")
    if args.steps < 1 or args.repeats < 1:
        raise ValueError("--steps and --repeats: give numbers >= 1")
    data_dir = Path(args.data_dir) if args.data_dir else None
    result = gpu_check(Path(args.out), data_dir, args.steps, args.repeats, Path(args.runs_root), args.update_mode)
    print(json.dumps(result, indent=2))
    return 0


def _plan(args: argparse.Namespace) -> int:
    from drol.plan import format_plan, load_config, plan

    if args.ms_per_update is not None and not args.ms_per_update > 0:
        raise ValueError(f"--ms-per-update {args.ms_per_update}: give a time > 0 in ms (the paper's GPU: about 5)")
    if args.repeats < 1:
        raise ValueError(f"--repeats {args.repeats}: give a number of timed updates >= 1 (default 10)")
    if not args.per_seed_ratio > 0:
        raise ValueError(f"--per-seed-ratio {args.per_seed_ratio}: give a ratio > 0 (1 = no gain from seed blocks)")
    seeds_per_job = args.seeds_per_job
    if seeds_per_job is not None and seeds_per_job != "all":
        if not seeds_per_job.isdigit() or int(seeds_per_job) < 1:
            raise ValueError(f"--seeds-per-job {seeds_per_job}: give an integer >= 1 or all")
        seeds_per_job = int(seeds_per_job)
    result = plan(load_config(args.configfile), args.ms_per_update, args.device, args.repeats,
                  seeds_per_job=seeds_per_job, per_seed_ratio=args.per_seed_ratio, checkpoints=args.checkpoints)
    print(json.dumps(result, indent=2) if args.json else format_plan(result, args.configfile))
    return 0


class OneLineErrors(argparse.ArgumentParser):
    """A usage error (a value not among an option's choices, a missing argument) is one line, like every
    other error a user can fix, pointing at --help instead of printing the usage block."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrors(prog="drol", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"drol {drol.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    from drol.data import SUITES
    from drol.loggers import LOGGERS
    from drol.methods import labels, methods
    from drol.reports.figures import FIGURES
    from drol.rundir import CHECKPOINT_RETENTION

    p = sub.add_parser("train", help="train a run, or a block of seeds of one configuration as one batched "
                                     "computation (resumes from checkpoints)")
    p.add_argument("--method", choices=methods(), help="the method to train")
    p.add_argument("--task", help="task name (see `drol tasks`), e.g. toy-bandit-v0")
    p.add_argument("--seed", type=int, nargs="+", default=None, metavar="N",
                   help="seed(s) (default 0; with --spec, the spec's). Several seeds train together as one block, "
                        "each as it would train alone (bit for bit on a CPU), in its own run directory")
    p.add_argument("--label", default=None, choices=labels(),
                   help="method label whose task hyperparameters to use (default: the method's first label)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config field, e.g. --set num_candidates=4 --set steps=1000 (repeatable); "
                        "an unknown key lists the valid ones")
    p.add_argument("--spec", default=None, metavar="JSON_OR_FILE",
                   help="a resolved run (JSON object or file, as run.json's `spec`), or a list of them (a block of "
                        "seeds), instead of --method/--task/--seed/--label/--set and the data options; the "
                        "workflow passes this")
    p.add_argument("--out", default=None,
                   help="run directory of a single seed (default <runs-root>/<suite>/<task>/<method>-K<K>-<config "
                        "hash>/seed<N>)")
    p.add_argument("--runs-root", default="results/runs", help="where run directories go (default results/runs)")
    p.add_argument("--update-mode", default=None, choices=["eager", "graph", "compile"],
                   help="how updates run: eager, or on CUDA captured as a CUDA graph (graph, the CUDA default) or "
                        "torch.compile(mode='reduce-overhead') (compile); see drol/step.py")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:1, ...")
    p.add_argument("--data-dir", default=None,
                   help="dataset directory (default $DROL_DATA_DIR, else ~/.ogbench/data; D4RL: $DROL_D4RL_DIR, "
                        "else ~/.d4rl/datasets)")
    p.add_argument("--download", action="store_true",
                   help="fetch a missing OGBench dataset as `drol fetch-data` does (resumable; default: offline, a "
                        "missing file is an error)")
    p.add_argument("--d4rl-route", default="hdf5", choices=["hdf5", "d4rl", "minari"], help="D4RL data route")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: all cores)")
    p.add_argument("--checkpoints", default=os.environ.get("DROL_CHECKPOINTS", "final"), choices=CHECKPOINT_RETENTION,
                   help="checkpoints kept when a run ends: final (default, or $DROL_CHECKPOINTS: the workflow's config "
                        "`checkpoints`; rewrites results without training), all (checkpoints/step-N.pt at every "
                        "checkpoint) or none (one exists only while the run trains, for resume)")
    p.add_argument("--logger", default=None, choices=LOGGERS,
                   help="also log metrics and evaluations to TensorBoard (<run dir>/tensorboard) or Weights & Biases "
                        "(project $WANDB_PROJECT, else drol); needs the extra of that name")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_train)

    p = sub.add_parser("gen-data", help="regenerate an OGBench dataset (and its -val file) with OGBench's oracles")
    p.add_argument("target", help="a task (cube-single-play-singletask-task1-v0), dataset (cube-single-play-v0) "
                                  "or family (cube-single-play); cube, scene, puzzle and pointmaze can be regenerated")
    p.add_argument("--episodes", type=int, required=True, help="training episodes (the -val file gets OGBench's share)")
    p.add_argument("--seed", type=int, default=0, help="generation seed: the same seed writes the same bytes")
    p.add_argument("--data-dir", default=None, help="output directory (default $DROL_DATA_DIR, else ~/.ogbench/data)")
    p.add_argument("--shards", type=int, default=None,
                   help="split the episodes into N shards (alone: generate the missing shards, merge, delete them); "
                        "the merged files equal an unsharded generation byte for byte")
    p.add_argument("--shard", type=int, default=None,
                   help="generate only shard K of --shards N (0-based), into DATA_DIR/shards/ (a parallel job)")
    p.add_argument("--merge", action="store_true",
                   help="merge the --shards N shards already generated into the dataset's two files")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_gen_data)

    p = sub.add_parser("fetch-data", help="download OGBench and D4RL datasets into the directories the loaders read "
                                          "(resumable; skips files present)")
    p.add_argument("targets", nargs="+", metavar="TARGET",
                   help="a suite (ogbench, d4rl), family (cube-single-play, d4rl-antmaze), task, OGBench dataset "
                        "(cube-single-play-v0) or one file's name (pen-human-v1.hdf5)")
    p.add_argument("--data-dir", default=None,
                   help="OGBench directory (default $DROL_DATA_DIR, else ~/.ogbench/data)")
    p.add_argument("--d4rl-dir", default=None,
                   help="D4RL directory (default $DROL_D4RL_DIR, else $D4RL_DATASET_DIR, else ~/.d4rl/datasets)")
    p.add_argument("--base-url", default=None,
                   help="fetch each file from BASE_URL/<file name> (a mirror, or file:///dir) instead of where OGBench "
                        "and D4RL publish it (default $DROL_DATA_URL)")
    p.add_argument("--checksums", default=None, metavar="FILE",
                   help="sha256sum-format list (e.g. `cat DIR/*.sha256` from a machine with the data) to check "
                        "downloads and present files against; OGBench and D4RL publish none")
    p.add_argument("--dry-run", action="store_true", help="list each file, whether it is present, and its URL")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_fetch_data)

    p = sub.add_parser("data-stats", help="an OGBench dataset's episodes, rows, dims and ranges beside what OGBench "
                                          "documents for its released file (Markdown table)")
    p.add_argument("target", help="a task, dataset or family whose files are in --data-dir (e.g. cube-single-play)")
    p.add_argument("--data-dir", default=None, help="directory of the files (default $DROL_DATA_DIR, else "
                                                    "~/.ogbench/data)")
    p.set_defaults(func=_data_stats)

    from drol.status import STATUSES

    p = sub.add_parser("status", help="where each run under a root stands while a grid trains: step, last score, "
                                      "updates/s, ETA (from run.json)")
    p.add_argument("root", nargs="?", default="results/runs", help="runs root or run directory (default results/runs)")
    p.add_argument("--task", default=None, metavar="GLOB", help="only tasks matching this glob, e.g. 'cube-*'")
    p.add_argument("--label", default=None,
                   help="only runs of this method label or study label, e.g. DROL(16) or k_sweep")
    p.add_argument("--method", default=None, choices=methods(), help="only runs of this method")
    p.add_argument("--status", nargs="+", default=None, choices=STATUSES,
                   help="only runs in these states (lost: says running, but its trainer is gone)")
    p.add_argument("--format", default="table", choices=["table", "csv", "json"], help="output format (default table)")
    p.set_defaults(func=_status)

    p = sub.add_parser("tasks", help="list the registered tasks and their hyperparameters")
    p.add_argument("--suite", default=None, choices=list(SUITES), help="only the tasks of this suite")
    p.add_argument("--family", default=None, help="a task family, e.g. cube-single-play")
    p.add_argument("--data-dir", default=None, help="dataset directory to check (default: as `drol train`)")
    p.set_defaults(func=_tasks)

    p = sub.add_parser("report", help="write the tables and figures from results.duckdb (opened read-only)")
    p.add_argument("what", nargs="?", default="all", choices=["tables", "figures", "all"],
                   help="tables (Table 1, Table 4, statistics), figures, or all (default)")
    p.add_argument("--db", default="results.duckdb", help="results database (default results.duckdb)")
    p.add_argument("--out", default="reports", help="output directory (default reports/)")
    p.add_argument("--note", default=None,
                   help="note printed on every table and figure, e.g. that the runs are short demo runs")
    p.add_argument("--only", default=None, choices=list(FIGURES), help="with `figures`: just this figure")
    p.set_defaults(func=_report)

    from drol.bench import BENCH_CASES as BENCH_CASE_NAMES

    p = sub.add_parser("bench", help="ms per update for FQL, DROL(K) and seed blocks, and inference ms per step")
    p.add_argument("--json", action="store_true", help="print JSON, with the ratios (drol16_over_fql, "
                   "drol64_over_drol16, drol16_s8_per_seed_over_drol16, drol16_toy_s8_per_seed_over_drol16_toy)")
    p.add_argument("--cases", default=None, help="comma-separated subset of " + ",".join(BENCH_CASE_NAMES))
    p.add_argument("--modes", default=None,
                   help="comma-separated update modes: eager, graph, compile (default: all three on CUDA, eager "
                        "on a CPU)")
    p.add_argument("--repeats", type=int, default=30, help="timed updates per case (median reported)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: CUDA when available)")
    p.set_defaults(func=_bench)

    p = sub.add_parser("gpu-check", help="CUDA bench (eager, CUDA graph, compile), graph-vs-eager numerics and an "
                                         "8-seed DROL(16) cube-single run, into one JSON (drol/gpu_check.py)")
    p.add_argument("--out", default="gpu_check.json", help="result JSON (default gpu_check.json)")
    p.add_argument("--data-dir", default=None,
                   help="directory with a regenerated cube-single-play-v0 dataset (drol gen-data); without it the "
                        "training run is skipped")
    p.add_argument("--steps", type=int, default=20_000, help="updates of the training run (default 20,000)")
    p.add_argument("--repeats", type=int, default=30, help="timed updates per bench case (default 30)")
    p.add_argument("--runs-root", default="gpu_check_runs", help="where the training run's directories go")
    p.add_argument("--update-mode", default=None, choices=["eager", "graph", "compile"],
                   help="update mode of the training run (default graph)")
    p.set_defaults(func=_gpu_check)

    p = sub.add_parser("plan", help="what a workflow config costs: jobs, updates, device-hours, eval env steps, "
                                    "checkpoint disk (no data needed)")
    p.add_argument("--configfile", default="workflow/config/demo.yaml",
                   help="workflow config, as snakemake's --configfile (default workflow/config/demo.yaml)")
    p.add_argument("--ms-per-update", type=float, default=None,
                   help="price every update at this many ms (the paper's GPU: about 5) instead of measuring "
                        "each case here")
    p.add_argument("--seeds-per-job", default=None,
                   help="seeds per training job, an integer or all (default: the config's seeds_per_job)")
    p.add_argument("--per-seed-ratio", type=float, default=1.0,
                   help="with --ms-per-update: per-seed time of a block update over a one-seed update "
                        "(drol bench's drol16_s8_per_seed_over_drol16; default 1, no gain)")
    p.add_argument("--checkpoints", default=None, choices=CHECKPOINT_RETENTION,
                   help="count the checkpoint disk of this retention (default: the config's `checkpoints`, else final)")
    p.add_argument("--device", default=None, help="where to measure: cpu or cuda (default: CUDA when available)")
    p.add_argument("--repeats", type=int, default=10, help="timed updates per measured case (median; default 10)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_plan)

    from drol.results.cli import add_commands as add_results_commands

    add_results_commands(sub)
    return parser


# Commands that talk to worker processes over pipes (evaluation environments): a closed pipe there must be an
# exception the trainer handles, not a SIGPIPE that kills it.
WORKER_PIPE_COMMANDS = ("train", "gpu-check")


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # --help, --version (0) or a usage error (2, its line already printed)
        return done.code
    from drol.errors import DataError, NoSpace, RunConflict, RunFileError, UnknownName

    previous_sigpipe = signal.getsignal(signal.SIGPIPE)
    if args.command not in WORKER_PIPE_COMMANDS:
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `drol tasks | head` ends quietly
    try:
        return args.func(args)
    except (UnknownName, DataError, RunConflict, RunFileError, NoSpace, ValueError) as err:
        print(f"drol {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        signal.signal(signal.SIGPIPE, previous_sigpipe)


if __name__ == "__main__":
    sys.exit(main())
