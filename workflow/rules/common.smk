# The run list and the lookups every rule uses. The planning itself is drol.workflow (tested with pytest).
from drol.workflow import (
    dataset_inputs,
    fetch_rules,
    missing_data_message,
    missing_downloads,
    plan_jobs,
    plan_runs,
    regenerated_dir,
    shard_files,
)

try:
    RUNS = plan_runs(config)
    JOBS = plan_jobs(config, RUNS)
except (KeyError, ValueError) as err:  # an unknown task, label or config key: one message, no traceback
    raise WorkflowError(f"config: {err}") from None

# Published datasets the runs lack: fetch jobs with `data.download: true` (data.smk), else one message naming
# each file's URL and the command that fetches them.
FETCHES = missing_downloads(RUNS.values())
if FETCHES and not config.get("data", {}).get("download"):
    raise WorkflowError(missing_data_message(FETCHES))


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
