# The run list and the lookups every rule uses. The planning itself is drol.workflow (tested with pytest).
from drol.workflow import dataset_inputs, missing_data_message, plan_jobs, plan_runs, regenerated_dir, shard_files

try:
    RUNS = plan_runs(config)
    JOBS = plan_jobs(config, RUNS)
except (KeyError, ValueError) as err:  # an unknown task, label or config key: one message, no traceback
    raise WorkflowError(f"config: {err}") from None

_missing = missing_data_message(RUNS.values())
if _missing:
    raise WorkflowError(_missing)


def planned(wildcards):
    return JOBS[f"results/runs/{wildcards.suite}/{wildcards.task}/{wildcards.tag}/seeds-{wildcards.seeds}.json"]


def train_inputs(wildcards):
    return dataset_inputs(planned(wildcards).runs[0])


def train_spec(wildcards):
    return planned(wildcards).spec_arg()


def all_job_outputs():
    return list(JOBS)


def regen_settings():
    return config["data"]["regenerate"]


def merge_args():
    """`drol gen-data` arguments that merge the dataset's shards (none without shards: one job generates it)."""
    shards = regen_settings().get("shards", 1)
    return f"--shards {shards} --merge" if shards > 1 else ""


def report_figures():
    """Figures the config has data for (drol.reports.figures.FIGURES: runtime needs `runtime:`, the K figures
    `k_sweep:`)."""
    from drol.reports.figures import figures_for

    return figures_for(config)
