"""`drol plan`: what a workflow config costs, before anything runs and with no data present.

From the config's run list (`drol.workflow.plan_runs`, the workflow's own) it counts

- jobs: one training job per block of seeds of one configuration (`seeds_per_job`, drol.workflow.plan_jobs;
  `--seeds-per-job` overrides the config's), plus the dataset-regeneration jobs when the config's
  `data.regenerate` is set: one per regenerated dataset, or its `shards` shard jobs and one merge, and the
  env steps the oracles take;
- gradient updates (the sum of every run's `train.steps`) and device-hours = the sum over jobs of steps x
  ms per update of the job's block. The ms come from `--ms-per-update` (one seed's update; a block of S
  seeds costs S x `--per-seed-ratio` x that, the ratio `drol bench` measures as
  drol16_s8_per_seed_over_drol16) or are measured here on the current device with `drol.bench`'s timing
  (one case per method, integer setting that occurs (K, network widths, ensemble size, batch size) and
  block size; at the bench's obs/action dims). Only update time is priced: evaluation, validation and
  logging are not;
- evaluation env steps, an upper bound: evaluations (step 1, every eval_interval and the last step, as
  drol/train.py schedules them) x episodes x the task's episode limit (episodes can end early);
- checkpoint disk: one checkpoint.pt per run (overwritten at each checkpoint), its tensors computed from
  the network shapes: parameters with the target critic, and Adam's exp_avg, exp_avg_sq and step, float32.

Observation and action dims come without data: OGBench's environment (built once per dataset, no data
read), D4RL's spec table (drol.data.d4rl), the toy task's class. A task whose environment cannot be built
is named, and its runs are left out of the disk figure rather than guessed.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from drol.config import RunSpec, TrainConfig
from drol.methods import get_method
from drol.tasks import get_task
from drol.workflow import PlannedRun, dataset_inputs, label_order, plan_jobs, plan_runs, validate_config

REPO_ROOT = Path(__file__).resolve().parent.parent  # the checkout holding the Snakefile (editable install)
DEFAULT_CONFIG = "workflow/config/demo.yaml"
SCHEMA = "workflow/schemas/config.schema.yaml"
MS_PER_HOUR = 3.6e6
FLOAT32_BYTES = 4
NO_LABEL = "(no label)"


@dataclass(frozen=True)
class Dims:
    obs_dim: int
    action_dim: int
    source: str  # where the dims come from, e.g. "ogbench env cube-single-play-v0"


# Config


def workflow_path(path: str | Path) -> Path:
    """A path as given, else relative to the checkout (the Snakefile's directory), as Snakemake finds it."""
    path = Path(path).expanduser()
    if path.exists() or path.is_absolute():
        return path
    return REPO_ROOT / path if (REPO_ROOT / path).exists() else path


def load_config(path: str | Path = DEFAULT_CONFIG) -> dict:
    """The workflow config at `path`, validated against the workflow's schema (defaults filled in).
    A missing, unreadable or invalid file raises ValueError with one line naming it and the fix."""
    import yaml

    config_path = workflow_path(path)
    if not config_path.is_file():
        raise ValueError(f"--configfile {path}: no such file; give a workflow config such as "
                         f"{DEFAULT_CONFIG} or workflow/config/paper.yaml")
    try:
        config = yaml.safe_load(config_path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"--configfile {path}: cannot read it as YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(config, dict):
        raise ValueError(f"--configfile {path}: expected a mapping of config keys (seeds, methods, tasks, ...)")
    schema = workflow_path(SCHEMA)
    if not schema.is_file():
        raise ValueError(f"workflow schema {SCHEMA} not found: run drol plan from a checkout holding the Snakefile")
    try:
        validate_config(config, schema)
    except ValueError as err:
        raise ValueError(f"config {path}: {err}") from None
    return config


# Counts per run


def evaluations(steps: int, eval_interval: int) -> int:
    """Evaluations of a run: at step 1, at every multiple of eval_interval and at the last step (train.py)."""
    multiples = steps // eval_interval
    first = 1 if eval_interval > 1 else 0  # step 1, unless it is a multiple already
    last = 1 if steps % eval_interval and steps > 1 else 0  # the last step, unless a multiple or step 1
    return multiples + first + last


def eval_env_steps_bound(train: TrainConfig, episode_limit: int) -> int:
    """At most this many env steps of evaluation: evaluations x episodes x the episode limit."""
    return evaluations(train.steps, train.eval_interval) * train.eval_episodes * episode_limit


def checkpoint_bytes(spec: RunSpec, dims: Dims) -> int:
    """Bytes of the tensors of one checkpoint of the run: parameters (target critic included) and Adam state.
    The run's records (metrics, evaluations, snapshots, RNG states) come on top (see the plan's notes)."""
    key = (spec.method, dims.obs_dim, dims.action_dim, tuple(sorted(dataclasses.asdict(spec.agent).items())))
    if key not in _CHECKPOINT_BYTES:
        import torch

        with torch.device("meta"):  # shapes only: nothing is allocated or initialised
            net = get_method(spec.method).agent_class()(dims.obs_dim, dims.action_dim, spec.agent)
        params = sum(t.numel() * t.element_size() for t in net.state_dict().values())  # target critic included
        adam = sum(2 * p.numel() * p.element_size() + FLOAT32_BYTES  # exp_avg, exp_avg_sq, step
                   for p in net.parameters() if p.requires_grad)
        _CHECKPOINT_BYTES[key] = params + adam
    return _CHECKPOINT_BYTES[key]


_CHECKPOINT_BYTES: dict[tuple, int] = {}


# Dims without data


@functools.cache
def _ogbench_env_dims(stem: str, task_name: str) -> Dims:
    from drol.data.ogbench import make_env

    env = make_env(task_name, "post")
    try:
        with warnings.catch_warnings():  # manipspace builds its action Box lazily, warning about float64 bounds
            warnings.simplefilter("ignore")
            return Dims(int(env.observation_space.shape[0]), int(env.action_space.shape[0]), f"ogbench env {stem}")
    finally:
        env.close()


def ogbench_dims(task_name: str) -> Dims:
    """Built from OGBench's environment (no dataset read), once per dataset: its tasks share the spaces."""
    from drol.data.ogbench import dataset_stem

    return _ogbench_env_dims(dataset_stem(task_name), task_name)


def d4rl_dims(task_name: str) -> Dims:
    from drol.data.d4rl import d4rl_spec

    spec = d4rl_spec(task_name)
    return Dims(spec.obs_dim, spec.action_dim, "d4rl spec table (drol.data.d4rl)")


def toy_dims(task_name: str) -> Dims:
    from drol.data.toy import ToyBandit

    return Dims(ToyBandit.obs_dim, ToyBandit.action_dim, "toy task (drol.data.toy)")


DIMS_BY_SUITE: dict[str, Callable[[str], Dims]] = {"ogbench": ogbench_dims, "d4rl": d4rl_dims, "toy": toy_dims}


def task_dims(task_names: Iterable[str]) -> tuple[dict[str, Dims], dict[str, str]]:
    """Task -> Dims, and task -> why its dims are unknown (an environment that cannot be built)."""
    dims, unknown = {}, {}
    for name in sorted(set(task_names)):
        suite = get_task(name).suite
        source = DIMS_BY_SUITE.get(suite)
        if source is None:
            unknown[name] = f"no dims source for suite {suite!r}"
            continue
        try:
            dims[name] = source(name)
        except ImportError as err:
            unknown[name] = f"cannot build its environment: {err.name or err} is not installed"
        except Exception as err:  # noqa: BLE001 - any failure to build an env is reported, not guessed around
            unknown[name] = f"cannot build its environment: {type(err).__name__}: {str(err).splitlines()[0]}"
    return dims, unknown


# ms per update


def bench_key(spec: RunSpec) -> tuple:
    """What decides an update's cost: the method, the agent's integer settings (K, widths, ensemble size,
    flow steps) and the batch size. Float, bool and string settings (coefficients, aggregation) do not."""
    shape_fields = tuple((f.name, getattr(spec.agent, f.name)) for f in dataclasses.fields(spec.agent)
                         if isinstance(getattr(spec.agent, f.name), int | tuple)
                         and not isinstance(getattr(spec.agent, f.name), bool))
    return spec.method, spec.train.batch_size, shape_fields


def case_name(spec: RunSpec) -> str:
    """e.g. `drol K=16 4x512` (widths of the actor; the critic's too where they differ)."""
    method = get_method(spec.method)
    k = f" K={getattr(spec.agent, method.k_field)}" if method.has_k else ""
    actor, critic = _widths(spec.agent.actor_hidden_dims), _widths(spec.agent.value_hidden_dims)
    nets = actor if actor == critic else f"actor {actor} critic {critic}"
    return f"{spec.method}{k} {nets} b{spec.train.batch_size}"


def _widths(dims: tuple[int, ...]) -> str:
    return f"{len(dims)}x{dims[0]}" if len(set(dims)) == 1 else "-".join(map(str, dims))


def measure_cases(blocks: Iterable[tuple[RunSpec, int]], device: str | None, repeats: int,
                  warmup: int) -> dict[tuple, dict]:
    """(bench key, block seeds) -> {case, seeds, ms_per_update, jobs}: each case timed once on `device` with
    drol.bench's timing (median of `repeats` block updates after `warmup`, synthetic data at the bench's
    obs/action dims)."""
    import torch

    from drol.bench import BenchShape, synthetic_dataset, time_calls
    from drol.step import TrainStep

    cases: dict[tuple, dict] = {}
    for spec, seeds in blocks:
        key = (bench_key(spec), seeds)
        if key in cases:
            cases[key]["jobs"] += 1
            continue
        shape = BenchShape(batch_size=spec.train.batch_size)
        resolved = torch.device(device or "cpu")
        agent = get_method(spec.method).agent_class().for_seeds(shape.obs_dim, shape.action_dim, spec.agent,
                                                                list(range(seeds)), resolved)
        generators = [torch.Generator(device=resolved).manual_seed(s) for s in range(seeds)]
        step = TrainStep(agent, synthetic_dataset(shape, resolved), generators, shape.batch_size)
        cases[key] = {"case": case_name(spec), "seeds": seeds, "ms_per_update": time_calls(step, repeats, warmup,
                                                                                             resolved), "jobs": 1}
    return dict(sorted(cases.items(), key=lambda item: (item[1]["case"], item[1]["seeds"])))


# The plan


def plan(config: dict, ms_per_update: float | None = None, device: str | None = None, repeats: int = 10,
         warmup: int = 3, seeds_per_job: int | str | None = None, per_seed_ratio: float = 1.0,
         checkpoints: str | None = None) -> dict:
    """What the config costs (see the module docstring), as a JSON-ready dict. `checkpoints` (default: the
    config's, else final) is the retention whose disk is counted."""
    retention = checkpoints or config.get("checkpoints", "final")
    if seeds_per_job is not None:
        config = {**config, "seeds_per_job": seeds_per_job}
    runs = plan_runs(config)
    jobs = plan_jobs(config, runs)
    block_size = {run.run_dir: len(job.runs) for job in jobs.values() for run in job.runs}
    specs = [run.spec for run in runs.values()]
    datasets = sorted({Path(dataset_inputs(run)[0]).name.removesuffix(".npz") for run in runs.values()
                       if run.data.regenerated})
    regen = config.get("data", {}).get("regenerate") or {}
    shards = regen.get("shards", 1)
    dataset_jobs = len(datasets) * (shards + 1 if shards > 1 else 1)
    dims, unknown = task_dims(spec.task for spec in specs)
    pricing = _pricing([(job.runs[0].spec, len(job.runs)) for job in jobs.values()], ms_per_update, per_seed_ratio,
                       device, repeats, warmup)
    rows = [_run_row(run, block_size[run.run_dir], dims, pricing["ms_of"], retention) for run in runs.values()]
    by_label = [_summary(label, [r for r in rows if label in r["labels"]])
                for label in sorted({lb for r in rows for lb in r["labels"]}, key=label_order)]
    return {
        "config_label": config.get("label", ""),
        "jobs": {"training": len(jobs), "dataset": dataset_jobs, "total": len(jobs) + dataset_jobs,
                 "runs": len(runs), "seeds_per_job": config.get("seeds_per_job", 1),
                 "largest_block": max(block_size.values(), default=0)},
        "regenerated_datasets": datasets,
        "generation_env_steps": _generation_steps(datasets, regen),
        "ms_per_update": {k: v for k, v in pricing.items() if k != "ms_of"},
        "by_label": by_label,
        "checkpoints": retention,
        "totals": _summary("total (distinct runs)", rows),
        "dims": {task: dataclasses.asdict(d) for task, d in dims.items()},
        "dims_unknown": unknown,
        "notes": _notes(pricing, unknown, by_label, retention),
    }


def _pricing(blocks: list[tuple[RunSpec, int]], ms_per_update: float | None, per_seed_ratio: float,
             device: str | None, repeats: int, warmup: int) -> dict:
    """Where the ms per update come from, and the function giving a run (in a block of `seeds`) its share
    of its job's update time."""
    if ms_per_update is not None:
        return {"source": "given", "value": ms_per_update, "per_seed_ratio": per_seed_ratio, "device": None,
                "cases": [], "ms_of": lambda spec, seeds: ms_per_update * (per_seed_ratio if seeds > 1 else 1.0)}
    import torch

    from drol.bench import BenchShape, device_name
    from drol.devices import resolve_device

    resolved = resolve_device(device)
    cases = measure_cases(blocks, str(resolved), repeats, warmup)
    shape = BenchShape()
    return {"source": "measured", "value": None, "device": device_name(resolved), "torch": torch.__version__,
            "repeats": repeats, "warmup": warmup, "obs_dim": shape.obs_dim, "action_dim": shape.action_dim,
            "cases": list(cases.values()),
            "ms_of": lambda spec, seeds: cases[(bench_key(spec), seeds)]["ms_per_update"] / seeds}


def checkpoints_kept(train, retention: str) -> int:
    """Checkpoint files a run keeps when it has ended: `all` keeps one per checkpoint_interval and the last."""
    if retention == "all":
        return train.steps // train.checkpoint_interval + (train.steps % train.checkpoint_interval != 0)
    return 1 if retention == "final" else 0


def _run_row(run: PlannedRun, block_seeds: int, dims: dict[str, Dims],
             ms_of: Callable[[RunSpec, int], float], retention: str) -> dict:
    """One run; its device-hours are its share of its job's (a block's update time / its seeds)."""
    spec = run.spec
    task_dims_ = dims.get(spec.task)
    kept = checkpoints_kept(spec.train, retention)
    return {"labels": spec.labels or (NO_LABEL,), "updates": spec.train.steps,
            "device_hours": spec.train.steps * ms_of(spec, block_seeds) / MS_PER_HOUR,
            "eval_env_steps_at_most": eval_env_steps_bound(spec.train, get_task(spec.task).episode_limit),
            "checkpoints_kept": kept,
            "checkpoint_bytes": kept * checkpoint_bytes(spec, task_dims_) if task_dims_ else None}


def _summary(label: str, rows: list[dict]) -> dict:
    known = [r["checkpoint_bytes"] for r in rows if r["checkpoint_bytes"] is not None]
    return {"label": label, "runs": len(rows), "updates": sum(r["updates"] for r in rows),
            "device_hours": sum(r["device_hours"] for r in rows),
            "eval_env_steps_at_most": sum(r["eval_env_steps_at_most"] for r in rows),
            "checkpoints_kept": sum(r["checkpoints_kept"] for r in rows),
            "checkpoint_bytes": sum(known), "runs_without_dims": len(rows) - len(known)}


def _notes(pricing: dict, unknown: dict[str, str], by_label: list[dict], retention: str) -> list[str]:
    if pricing["source"] == "given":
        priced = (f"device-hours at {pricing['value']:g} ms per one-seed update (given with --ms-per-update); a "
                  f"job's block of S > 1 seeds at S x {pricing['per_seed_ratio']:g} x that per update "
                  "(--per-seed-ratio, as `drol bench` measures drol16_s8_per_seed_over_drol16)")
    else:
        priced = (f"device-hours at ms per update measured here on {pricing['device']} (median of "
                  f"{pricing['repeats']} updates per case); each job is priced at its case's method, K, network "
                  f"widths, batch size and block of seeds, at the bench's obs/action dims ({pricing['obs_dim']}/"
                  f"{pricing['action_dim']}), not the task's")
    notes = [priced + "; update time only: evaluation, validation and logging come on top.",
             "eval env steps are at most evaluations (step 1, every eval_interval, the last step) x episodes x "
             "the task's episode limit; episodes can end earlier.",
             f"checkpoint disk: what runs keep when they end with --checkpoints {retention} (final: the last "
             "checkpoint.pt; all: one per checkpoint_interval; none: nothing kept, one per running job while it "
             "trains); each checkpoint's tensors from the network shapes (parameters, target critic, Adam "
             "exp_avg/exp_avg_sq/step; float32). The run's records (metrics, evaluations, snapshots, RNG "
             "states) come on top: measured 55-85 kB on the demo's short runs, 0.4 MB on a toy run with 5,000 "
             "evaluation episodes. A temporary copy exists while one is written. GB = 1e9 bytes."]
    if len(by_label) > 1:
        notes.append("a run that several labels or studies stand for (they resolve to the same configuration, "
                     "e.g. DROL(16) and DROL where the tuned K is 16) counts in each of their rows; the total "
                     "counts it once.")
    if unknown:
        notes.append(f"checkpoint disk leaves out the runs of {len(unknown)} task(s) whose dims are unknown: "
                     + "; ".join(f"{task}: {why}" for task, why in unknown.items()))
    return notes


def format_plan(result: dict, config_path: str) -> str:
    """The plan as text: jobs, the ms-per-update source (and measured cases), a table per label, notes."""
    import pandas as pd

    jobs = result["jobs"]
    pricing = result["ms_per_update"]
    lines = [f"drol plan: {config_path}" + (f" ({result['config_label']})" if result["config_label"] else ""),
             f"jobs: {jobs['total']:,} = {jobs['training']:,} training (blocks of up to {jobs['largest_block']} "
             f"seed(s) of one configuration, seeds_per_job {jobs['seeds_per_job']}; {jobs['runs']:,} runs)"
             f" + {jobs['dataset']:,} dataset regeneration" +
             (f" ({', '.join(result['regenerated_datasets'])}: {result['generation_env_steps']:,} oracle env steps)"
              if result["regenerated_datasets"] else "") +
             "; the database and report jobs come on top"]
    if pricing["source"] == "given":
        lines.append(f"ms per update: {pricing['value']:g} for one seed (given with --ms-per-update); per-seed "
                     f"ratio in a block {pricing['per_seed_ratio']:g}")
    else:
        lines.append(f"ms per update: measured on {pricing['device']}, torch {pricing['torch']}, median of "
                     f"{pricing['repeats']} updates after {pricing['warmup']}, obs {pricing['obs_dim']}, "
                     f"act {pricing['action_dim']}:")
        lines.append(pd.DataFrame(pricing["cases"]).to_string(index=False, float_format="%.3f"))
    table = pd.DataFrame([*result["by_label"], result["totals"]])
    table["checkpoint_GB"] = table.pop("checkpoint_bytes") / 1e9
    if not table["runs_without_dims"].any():
        table = table.drop(columns="runs_without_dims")
    formats = {"updates": "{:,}".format, "eval_env_steps_at_most": "{:,}".format, "checkpoint_GB": "{:.3g}".format,
               "device_hours": "{:,.4g}".format}
    lines += ["", table.to_string(index=False, formatters=formats, float_format="%.4g"),
              f"checkpoints kept: {result['totals']['checkpoints_kept']:,} (--checkpoints {result['checkpoints']})",
              ""]
    lines += [f"- {note}" for note in result["notes"]]
    return "\n".join(lines)


def _generation_steps(datasets: list[str], regen: dict) -> int:
    """Env steps the oracles take to regenerate `datasets` (training and -val episodes, OGBench's lengths)."""
    from drol.data.generate import VAL_FRACTION, spec_for

    episodes = regen.get("episodes", 0)
    return sum((episodes + max(1, episodes // VAL_FRACTION)) * spec_for(d).episode_length for d in datasets)
