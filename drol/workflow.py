"""The workflow's run list: a config (workflow/config/*.yaml) -> runs, and the training jobs that train them.

Method labels (drol.methods) resolve to configurations (DROL(16) = drol with K = 16, DROL = drol with the
family's tuned K, FQL); a K sweep adds runs that differ from a method's sweep label only in K; runtime
runs are short runs whose timing.json feeds the runtime figure. Labels that resolve to the same
configuration share one run directory, `RunSpec.run_dir`, the same one `drol train` picks by hand. A job
trains a block of seeds of one configuration (`seeds_per_job`) and is handed their resolved runs (`drol
train --spec`); its output is the block's manifest (drol.rundir.block_manifest).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from drol.config import RunSpec, resolve_run
from drol.data import SUITES, DataSettings, suite_of
from drol.methods import K_SWEEP, RUNTIME, get_label, labels, methods
from drol.rundir import block_manifest
from drol.tasks import get_task

if TYPE_CHECKING:
    from drol.data.fetch import DataFile

RUNS_ROOT = Path("results/runs")


@dataclass
class PlannedRun:
    spec: RunSpec  # the resolved run, labels included

    @property
    def data(self):
        return self.spec.data

    @property
    def run_dir(self) -> str:
        return str(self.spec.run_dir(RUNS_ROOT))


@dataclass
class PlannedJob:
    runs: list[PlannedRun]  # seeds of one configuration, in seed order

    @property
    def manifest(self) -> str:
        """The job's output: `<configuration dir>/seeds-<a>_<b>....json`, written when every seed has ended."""
        return str(block_manifest([Path(r.run_dir) for r in self.runs], [r.spec.seed for r in self.runs]))

    def spec_arg(self) -> str:
        """The block's resolved runs as one shell-quoted JSON word: the job's whole configuration, in its params."""
        return shlex.quote(json.dumps([r.spec.to_dict() for r in self.runs], sort_keys=True))


def plan_jobs(config: dict, runs: dict[str, PlannedRun] | None = None) -> dict[str, PlannedJob]:
    """Manifest path -> training job: the runs of each configuration in blocks of `seeds_per_job` seeds, fixed
    by seed value (block b = seeds b*n .. b*n+n-1), so adding a seed changes only its block's job. Runtime
    runs train one seed per job (their timing is a one-seed update's)."""
    runs = plan_runs(config) if runs is None else runs
    per_job = config.get("seeds_per_job", 1)
    configurations: dict[Path, list[PlannedRun]] = {}
    for run_dir, run in runs.items():
        configurations.setdefault(Path(run_dir).parent, []).append(run)
    jobs = {}
    for seeds in configurations.values():
        seeds.sort(key=lambda r: r.spec.seed)
        size = 1 if RUNTIME in seeds[0].spec.labels else per_job
        blocks: dict[int, list[PlannedRun]] = {}
        for run in seeds:
            blocks.setdefault(0 if size == "all" else run.spec.seed // size, []).append(run)
        for block in blocks.values():
            job = PlannedJob(block)
            jobs[job.manifest] = job
    return dict(sorted(jobs.items()))


def label_order(label: str) -> tuple[int, str]:
    """Method labels in display order, then K-sweep, then workflow tags by name."""
    order = list(labels())
    return (order.index(label), "") if label in order else (len(order) + (label != K_SWEEP), label)


def _data_options(config: dict, task_name: str) -> DataSettings:
    """How a job finds its data and which data it is. Training jobs never download: missing files are fetched
    by the workflow's fetch jobs (`data.download`) or stop it before it starts. Completed from the data directory
    as `drol train` by hand completes them."""
    task = get_task(task_name)
    data = config.get("data", {})
    if regenerate(config, task_name):
        regen = data["regenerate"]
        settings = DataSettings(data_dir=regenerated_dir(config),
                                regenerated={"episodes": regen["episodes"], "seed": regen["seed"]})
    else:
        settings = suite_of(task).settings_from_config(data)
    return settings.for_task(task)


def shard_files(config: dict, dataset: str) -> list[str]:
    """The shard files (and their sidecars) a regenerated dataset (`cube-single-play-v0`) is merged from, as
    `drol gen-data --shards N --shard K` writes them; none when `data.regenerate.shards` is 1."""
    from drol.data.gen_files import shard_path
    from drol.data.generate import spec_for
    from drol.data.ogbench import sidecar_path

    regen = config["data"]["regenerate"]
    shards = regen.get("shards", 1)
    if shards == 1:
        return []
    length = spec_for(dataset).episode_length
    paths = [shard_path(Path(regenerated_dir(config)), dataset, regen["episodes"], regen["seed"], length, shard, shards)
             for shard in range(shards)]
    return [str(p) for path in paths for p in (path, sidecar_path(path))]


def regenerate(config: dict, task_name: str) -> bool:
    """A task's data is regenerated by the workflow when the config asks for it and its suite can."""
    task = get_task(task_name)
    return bool(config.get("data", {}).get("regenerate")) and suite_of(task).regenerable(task)


def regenerated_dir(config: dict) -> str:
    """Regenerated datasets live in a directory named by their settings, so other settings never collide."""
    regen = config["data"]["regenerate"]
    return f"{config['data'].get('root', 'data')}/ogbench-regen-e{regen['episodes']}-s{regen['seed']}"


def plan_runs(config: dict) -> dict[str, PlannedRun]:
    """Run directory -> planned run, for every job the config asks for."""
    runs: dict[str, PlannedRun] = {}
    training = dict(config.get("training", {}))
    source = config.get("hparams_source", "table3")

    def add(label: str, task: str, seed: int, train_over: dict, agent_over: dict, tags: tuple[str, ...] = ()):
        method = get_label(label)[0]
        spec = resolve_run(method.name, task, seed, {"hparams_source": source, **train_over, **agent_over}, label,
                           data=_data_options(config, task), tags=tags)
        planned = runs.setdefault(str(spec.run_dir(RUNS_ROOT)), PlannedRun(spec))
        merged = sorted({*planned.spec.labels, *spec.labels}, key=label_order)
        planned.spec = replace(planned.spec, labels=tuple(merged))

    for task, task_cfg in config["tasks"].items():
        task_cfg = task_cfg or {}
        for seed in task_cfg.get("seeds", config["seeds"]):
            for label in config["methods"]:
                add(label, task, seed, {**training, **task_cfg.get("training", {})}, {})
    sweep = config.get("k_sweep")
    if sweep:
        method, _ = get_label(sweep.get("label", default_sweep_label()))
        for task in sweep["tasks"]:
            task_training = (config["tasks"].get(task) or {}).get("training", {})
            for seed in sweep.get("seeds", config["seeds"]):
                for k in sweep["values"]:
                    add(method.sweep_label, task, seed, {**training, **task_training}, {method.k_field: k}, (K_SWEEP,))
    runtime = config.get("runtime")
    if runtime:
        train_over = {**training, **runtime.get("training", {})}
        timed = [m for m in methods().values() if any(get_label(lb)[0] is m for lb in config["methods"])]
        for seed in runtime.get("seeds", [0]):
            for method in timed:
                if method.has_k:
                    for k in runtime["values"]:
                        add(method.sweep_label, runtime["task"], seed, train_over, {method.k_field: k}, (RUNTIME,))
                else:
                    add(method.default_label, runtime["task"], seed, train_over, {}, (RUNTIME,))
    return dict(sorted(runs.items()))


def figure_files(config: dict, runs: dict[str, PlannedRun] | None = None) -> dict[str, list[str]]:
    """Figure stem -> the file stems it writes, for each figure the config has runs for (figures_for): one file,
    or for small multiples one per MAX_PANELS tasks of the runs its panels come from (`Figure.panels`: the
    method labels' runs less the timing runs, as the database's `result_runs`; or the K sweep's). The figure
    rules declare them all as outputs, so `report.html` shows every page."""
    from drol.reports.figures import FIGURES, figures_for, page_stems

    runs = plan_runs(config) if runs is None else runs
    method_labels = set(labels())
    files = {}
    for stem in figures_for(config):
        panels = FIGURES[stem].panels
        if panels is None:
            files[stem] = [stem]
            continue
        tasks = {r.spec.task for r in runs.values() if RUNTIME not in r.spec.labels
                 and (K_SWEEP in r.spec.labels if panels == K_SWEEP else method_labels & set(r.spec.labels))}
        files[stem] = page_stems(stem, len(tasks))
    return files


def reports_message(files, configfiles=()) -> str:
    """What the workflow prints when it succeeds: where its database, tables and figures are (a file's formats
    together: reports/table4.{html,md,tex}) and the command that bundles them into one report.html."""
    import textwrap

    formats: dict[str, list[str]] = {}
    for path in map(Path, files):
        formats.setdefault(str(path.with_suffix("")), []).append(path.suffix[1:])
    names = [f"{stem}.{{{','.join(exts)}}}" if len(exts) > 1 else f"{stem}.{exts[0]}" for stem, exts in formats.items()]
    # Snakemake hands the config files over absolute: shown relative to the working directory when inside it.
    here = Path.cwd()
    shown = [Path(c).relative_to(here) if Path(c).is_relative_to(here) else Path(c) for c in configfiles]
    options = "".join(f" --configfile {shlex.quote(str(c))}" for c in shown)
    return "\n".join([f"drol: the database, tables and figures, in {Path.cwd()}:",
                      *textwrap.wrap(", ".join(names), 116, initial_indent="  ", subsequent_indent="  ",
                                     break_on_hyphens=False),
                      f"One HTML file with every table and figure and its caption: snakemake --report report.html"
                      f"{options}"])


def validate_config(config: dict, schema_path: Path | str) -> None:
    """Validate a workflow config against the schema file, with the method labels taken from the registry
    (set defaults as Snakemake's `validate` does). Raises ValueError naming the key and the rule."""
    import jsonschema
    import yaml

    schema = yaml.safe_load(Path(schema_path).read_text())
    schema["properties"]["methods"]["items"]["enum"] = list(labels())
    schema["$defs"]["training"]["properties"] = training_properties()
    sweep = schema["properties"]["k_sweep"]["properties"]["label"]
    sweep["enum"] = [m.sweep_label for m in methods().values() if m.sweep_label]
    validator_cls = jsonschema.validators.extend(jsonschema.Draft202012Validator, {
        "properties": _setting_defaults(jsonschema.Draft202012Validator.VALIDATORS["properties"])})
    error = jsonschema.exceptions.best_match(validator_cls(schema).iter_errors(config))
    if error is not None:
        where = "".join(f"[{p!r}]" for p in error.absolute_path)
        raise ValueError(f"{error.message} (instance{where}; schema rule {error.validator!r} at "
                         f"{'/'.join(map(str, error.absolute_schema_path))}; see {schema_path})")
    regen = config.get("data", {}).get("regenerate") or {}
    if regen.get("shards", 1) > regen.get("episodes", 1):
        raise ValueError(f"data.regenerate.shards {regen['shards']} > episodes {regen['episodes']}: a shard needs "
                         "at least one episode; use fewer shards")


def training_properties() -> dict[str, dict]:
    """JSON-schema properties of every training field and every registered method's agent field, with the
    types and ranges their dataclasses declare (drol.ranges), for the config's `training:` sections."""
    from drol.config import TrainConfig
    from drol.ranges import json_schema

    props = json_schema(TrainConfig)
    for method in methods().values():
        props.update(json_schema(method.config_class()))
    return dict(sorted(props.items()))


def _setting_defaults(validate_properties):
    def properties(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(name, sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return properties


def default_sweep_label() -> str:
    """The K sweep varies K around the first method with a sweep label (DROL(16))."""
    return next(m.sweep_label for m in methods().values() if m.sweep_label)


def dataset_inputs(run: PlannedRun) -> list[str]:
    """The dataset files a job reads (regenerated and, with `data.download`, missing published ones are produced by
    the workflow's data rules)."""
    task = get_task(run.spec.task)
    return [str(p) for p in suite_of(task).dataset_paths(task, run.data)]


def missing_downloads(runs) -> list[DataFile]:
    """The published dataset files (OGBench's, D4RL's) the runs read and lack, each once, by path. With
    `data.download` they are the workflow's fetch jobs; without, `missing_data_message` stops the workflow."""
    from drol.data.fetch import task_files

    missing = {}
    for run in runs:
        for file in task_files(get_task(run.spec.task), run.data):
            if not file.path.exists():
                missing.setdefault(file.path, file)
    suites = list(SUITES)
    return sorted(missing.values(), key=lambda file: (suites.index(file.suite), str(file.path)))


def missing_data_message(files: list[DataFile]) -> str:
    """What is missing, the URL of each file by directory, and how to fetch them: one command, or jobs."""
    from drol.data.fetch import fetch_command

    lines = [f"{len(files)} dataset file(s) the config's runs read are missing:"]
    for directory in dict.fromkeys(file.path.parent for file in files):
        lines.append(f"  into {directory}:")
        lines += [f"    {file.url}" for file in files if file.path.parent == directory]
    lines.append(f"Fetch them with `{fetch_command(files)}`, or set `data: {{download: true}}` in the config to "
                 "fetch them as workflow jobs, or remove those tasks from the config.")
    return "\n".join(lines)


def fetch_rules(files: list[DataFile]) -> dict[str, tuple[str, list[str]]]:
    """Suite -> (its directory, the names of its missing files): the workflow's fetch rule of each suite, which
    fetches each file as one job."""
    rules: dict[str, tuple[str, list[str]]] = {}
    for file in files:
        rules.setdefault(file.suite, (str(file.path.parent), []))[1].append(file.path.name)
    return rules
