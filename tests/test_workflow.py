"""The Snakemake workflow on small toy configs: exact job lists of dry runs, schema errors, a real run."""

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
TOY = yaml.safe_load((REPO / ".test/config/toy.yaml").read_text())
SNAKEMAKE = [sys.executable, "-m", "snakemake"]

pytestmark = pytest.mark.skipif(
    not (Path(sys.executable).parent / "snakemake").exists() and not shutil.which("snakemake"),
    reason="snakemake is not installed")


def copy_workflow(dest: Path) -> Path:
    """The workflow as a user's clone has it: Snakefile, workflow/ and the profiles Snakemake loads."""
    shutil.copy(REPO / "Snakefile", dest)
    shutil.copytree(REPO / "workflow", dest / "workflow")
    shutil.copytree(REPO / "profiles", dest / "profiles")
    return dest


@pytest.fixture
def workdir(tmp_path):
    return copy_workflow(tmp_path)


def job_env():
    """The jobs call `drol`: put this interpreter's scripts first on PATH."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


def snakemake(workdir, config, *args, timeout=600):
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    return subprocess.run(SNAKEMAKE + ["--configfile", "config.yaml", "--cores", "2", *args], cwd=workdir,
                          capture_output=True, text=True, timeout=timeout, env=job_env())


def planned_jobs(workdir, config) -> dict[str, list[str]]:
    """rule -> sorted first outputs of the jobs a dry run would execute (train: the block's manifest,
    `<configuration>/seeds-<a>_<b>.json`)."""
    result = snakemake(workdir, config, "--dry-run")
    assert result.returncode == 0, result.stderr + result.stdout
    jobs: dict[str, list[str]] = {}
    for rule, output in re.findall(r"^rule (\w+):\n(?:    input: .*\n)?    output: ([^,\n]+)", result.stdout, re.M):
        jobs.setdefault(rule, []).append(output)
    if "Nothing to be done" in result.stdout + result.stderr:
        return {}
    return {rule: sorted(v) for rule, v in jobs.items()}


def test_dry_run_plans_one_job_per_distinct_configuration(workdir):
    jobs = planned_jobs(workdir, TOY)
    # DROL(16) and the K-sweep's K=16 are one configuration: 3 jobs, not 4.
    assert len(jobs["train"]) == 3 and jobs["build_db"] == ["results.duckdb"]
    assert sum("/drol-K16-" in d for d in jobs["train"]) == 1 and sum("/drol-K1-" in d for d in jobs["train"]) == 1


def test_plain_dry_run_loads_the_default_profile(workdir):
    """`snakemake -n` with no profile flag uses profiles/default (one thread per training job, rerun-incomplete)."""
    result = snakemake(workdir, TOY, "--dry-run")
    assert result.returncode == 0, result.stderr[-2000:]
    output = result.stdout + result.stderr
    assert "Using workflow specific profile profiles/default" in output, output[:2000]


def test_a_run_trained_by_hand_is_not_trained_again_by_the_workflow(workdir):
    """`drol train` by hand (no --out) and the workflow resolve the same run into the same directory."""
    sets = [f"{k}={','.join(map(str, v))}" if isinstance(v, list) else f"{k}={v}" for k, v in TOY["training"].items()]
    cmd = [str(Path(sys.executable).parent / "drol"), "train", "--method", "drol", "--task", "toy-bandit-v0",
           "--seed", "0", "--no-progress", *[arg for s in sets for arg in ("--set", s)]]
    by_hand = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, env=job_env(), timeout=300)
    assert by_hand.returncode == 0, by_hand.stderr[-2000:]
    run_dir = by_hand.stdout.split("finished: ")[1].strip()
    manifest = str(Path(run_dir).parent / "seeds-0.json")
    assert (workdir / manifest).exists()  # drol train writes the block manifest the workflow expects
    jobs = planned_jobs(workdir, TOY)
    assert len(jobs["train"]) == 2 and manifest not in jobs["train"], (manifest, jobs["train"])
    assert json.loads((workdir / run_dir / "run.json").read_text())["labels"] == ["DROL(16)"]


@pytest.mark.parametrize("change, words", [
    ({"methods": ["DROL(8)"]}, ["'DROL(8)' is not one of", "instance['methods'][0]"]),
    ({"seeds": [-1]}, ["-1 is less than the minimum of 0", "instance['seeds'][0]"]),
    ({"k_sweep": {"tasks": ["toy-bandit-v0"]}}, ["'values' is a required property", "k_sweep"]),
    ({"tasks": {"toy-bandit-v0": {"trianing": {}}}}, ["'trianing' was unexpected", "additionalProperties"]),
])
def test_schema_errors_name_the_key_and_the_rule(workdir, change, words):
    result = snakemake(workdir, {**TOY, **change}, "--dry-run")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert all(w in output for w in words), output[-2000:]


@pytest.mark.parametrize("training, words", [
    ({"steps": "abc"}, ["'abc' is not of type 'integer'", "instance['training']['steps']"]),
    ({"steps": -5}, ["-5 is less than the minimum of 1", "instance['training']['steps']"]),
    ({"batch_size": 0}, ["0 is less than the minimum of 1", "instance['training']['batch_size']"]),
    ({"actor_hidden_dims": "abc"}, ["'abc' is not of type 'array'", "actor_hidden_dims"]),
    ({"num_candidates": 0}, ["0 is less than the minimum of 1", "num_candidates"]),
    ({"discount": 1.5}, ["1.5 is greater than the maximum of 1", "discount"]),
    ({"stpes": 10}, ["'stpes' was unexpected"]),
])
def test_schema_checks_training_types_and_ranges_before_anything_runs(training, words):
    """The `training:` fields get the types and ranges their dataclasses declare (drol.ranges)."""
    from drol.workflow import validate_config

    config = copy.deepcopy(TOY)
    config["training"].update(training)
    with pytest.raises(ValueError) as err:
        validate_config(config, REPO / "workflow/schemas/config.schema.yaml")
    assert all(w in str(err.value) for w in words), str(err.value)


def test_bad_training_value_stops_snakemake_before_any_job(workdir):
    result = snakemake(workdir, {**TOY, "training": {**TOY["training"], "batch_size": 0}}, "--dry-run")
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "instance['training']['batch_size']" in output and "Traceback" not in output


def test_unknown_task_stops_the_workflow_with_one_message(workdir):
    result = snakemake(workdir, {**TOY, "tasks": {"cube-single-v9": None}}, "--dry-run")
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "unknown task 'cube-single-v9'" in output and "Traceback" not in output


AGGREGATE_RULES = {"run_labels", "build_db", "tables", "figure_runtime", "figure_train_metrics_vs_k",
                   "figure_k_sensitivity", "figure_routing", "figure_learning_curves", "figure_performance_profile"}


@pytest.mark.slow
def test_incremental_rebuilds(workdir):
    result = snakemake(workdir, {**TOY, "checkpoints": "all"})
    assert result.returncode == 0, result.stderr[-3000:]
    before = {str(p.parent.parent.relative_to(workdir)) for p in (workdir / "results/runs").rglob("run.json")}
    # `checkpoints: all` reached the jobs: each run kept its checkpoint of step 10 beside the final one.
    run_dirs = [p.parent for p in (workdir / "results/runs").rglob("run.json")]
    assert run_dirs and all((d / "checkpoints" / "step-10.pt").is_file() for d in run_dirs)
    # A second run right after a finished one does nothing, whatever the checkpoint retention now says.
    assert planned_jobs(workdir, TOY) == {}
    assert planned_jobs(workdir, {**TOY, "checkpoints": "none"}) == {}

    def expect_new(config, n_new):
        jobs = planned_jobs(workdir, config)
        # The new training jobs, then only the database and the reports (rule all has no output of its own).
        assert "train" in jobs and set(jobs) - {"train"} <= AGGREGATE_RULES, jobs
        assert len(jobs["train"]) == n_new, jobs["train"]
        return jobs["train"]

    # Adding a seed: only that seed's jobs.
    added_seed = copy.deepcopy(TOY)
    added_seed["seeds"] = [0, 1]
    assert all(d.endswith("/seeds-1.json") for d in expect_new(added_seed, 3))
    # Adding a K value to the sweep: one job.
    added_k = copy.deepcopy(TOY)
    added_k["k_sweep"]["values"] = [1, 4, 16]
    assert "/drol-K4-" in expect_new(added_k, 1)[0]
    # Adding a task: its training jobs (and its dataset, regenerated here).
    added_task = copy.deepcopy(TOY)
    added_task["tasks"]["cube-single-play-singletask-task1-v0"] = None
    added_task["data"] = {"regenerate": {"episodes": 2, "seed": 0}}
    jobs = planned_jobs(workdir, added_task)
    assert "train" in jobs and set(jobs) - {"train", "regenerate_dataset"} <= AGGREGATE_RULES, jobs
    assert len(jobs["train"]) == 2 and all("cube-single-play-singletask-task1-v0" in d for d in jobs["train"])
    assert jobs["regenerate_dataset"] == ["data/ogbench-regen-e2-s0/cube-single-play-v0.npz"]
    # Changing one hyperparameter of the task: its jobs rerun, under new directories.
    changed = copy.deepcopy(TOY)
    changed["tasks"]["toy-bandit-v0"] = {"training": {"eval_episodes": 30}}
    new_dirs = {str(Path(d).parent) for d in expect_new(changed, 3)}
    assert len(new_dirs) == 3 and not new_dirs & before


def test_paper_regen_config_plans_sharded_generation_and_training_with_no_data(workdir):
    """workflow/config/paper-regen.yaml: 5 datasets x 10 shard jobs, 5 merges, and every training job."""
    from drol.workflow import plan_jobs

    config = yaml.safe_load((REPO / "workflow/config/paper-regen.yaml").read_text())
    jobs = planned_jobs(workdir, config)
    stems = ["cube-double-play-v0", "cube-single-play-v0", "puzzle-3x3-play-v0", "puzzle-4x4-play-v0", "scene-play-v0"]
    assert jobs["regenerate_dataset"] == [f"data/ogbench-regen-e1000-s0/{s}.npz" for s in stems]
    assert jobs["regenerate_shard"] == sorted(f"data/ogbench-regen-e1000-s0/shards/{s}-e1000-s0-l1001/{k}-of-10.npz"
                                              for s in stems for k in range(10))
    assert jobs["train"] == sorted(plan_jobs(copy.deepcopy(config)))
    assert len({Path(j).parts[3] for j in jobs["train"]}) == 25  # every manipulation task


def test_seed_blocks_plan_one_job_per_block(workdir):
    config = {**copy.deepcopy(TOY), "seeds": [0, 1, 2], "methods": ["FQL"], "seeds_per_job": 2}
    config.pop("k_sweep")
    jobs = planned_jobs(workdir, config)["train"]
    assert [Path(j).name for j in jobs] == ["seeds-0_1.json", "seeds-2.json"]
    assert [Path(j).name for j in planned_jobs(workdir, {**config, "seeds_per_job": "all"})["train"]] == [
        "seeds-0_1_2.json"]


@pytest.mark.slow
def test_a_seed_added_to_a_block_trains_only_that_seed(workdir):
    """Blocks are fixed by seed value: seed 3 joins seed 2's block, whose job keeps seed 2's finished run."""
    import duckdb

    config = {**copy.deepcopy(TOY), "seeds": [0, 1, 2], "methods": ["FQL"], "seeds_per_job": 2}
    config.pop("k_sweep")
    assert snakemake(workdir, config, "results.duckdb").returncode == 0
    (seed2,) = (workdir / "results/runs").rglob("seed2/evals.parquet")
    stamp = seed2.stat().st_mtime_ns
    added = {**config, "seeds": [0, 1, 2, 3]}
    assert [Path(j).name for j in planned_jobs(workdir, added)["train"]] == ["seeds-2_3.json"]
    result = snakemake(workdir, added, "results.duckdb")
    assert result.returncode == 0, result.stderr[-3000:]
    assert seed2.stat().st_mtime_ns == stamp  # not retrained
    log = next((workdir / "logs/train").rglob("seeds-2_3.log")).read_text()
    assert "training again" not in log and "finished:" in log
    with duckdb.connect(str(workdir / "results.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from runs where status = 'finished'").fetchone()[0] == 4
    assert json.loads((seed2.parent / "run.json").read_text())["block"] == [2, 3]


SLURM_SCRIPTS = REPO.parent / "shared" / "slurm"


@pytest.mark.slow
@pytest.mark.skipif(not (SLURM_SCRIPTS / "start-slurm.sh").exists(),
                    reason="../shared/slurm (the loopback SLURM cluster used by CI) is absent")
def test_toy_workflow_runs_as_slurm_jobs(workdir):
    import json

    import duckdb

    pytest.importorskip("snakemake_executor_plugin_slurm", reason="pip install -e '.[slurm]'")
    subprocess.run(["bash", str(SLURM_SCRIPTS / "start-slurm.sh")], check=True, timeout=900, capture_output=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(TOY))
    # The project's SLURM profile, with this one-node test cluster's partition and no GPU.
    cmd = ["timeout", "-k", "10", "900", *SNAKEMAKE, "--workflow-profile", "profiles/slurm",
           "--configfile", "config.yaml", "--jobs", "2", "--slurm-init-seconds-before-status-checks", "2",
           "--default-resources", "slurm_partition=debug", "runtime=5", "mem_mb=500", "cpus_per_task=1",
           "--set-resources", "train:gpu=0", "train:runtime=10", "train:mem_mb=1500", "train:cpus_per_task=1",
           "--set-threads", "train=1"]
    result = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, env=job_env())
    assert result.returncode == 0, result.stderr[-4000:]
    job_ids = [json.loads(p.read_text())["slurm_job_id"] for p in (workdir / "results/runs").rglob("run.json")]
    assert len(job_ids) == 3 and all(job_ids)
    sacct = subprocess.run(["sacct", "-X", "-n", "-P", "-o", "JobID,State", "-j", ",".join(job_ids)],
                           capture_output=True, text=True, check=True).stdout
    states = dict(line.split("|") for line in sacct.split())
    assert all(states.get(j) == "COMPLETED" for j in job_ids), sacct
    with duckdb.connect(str(workdir / "results.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from runs where status = 'finished'").fetchone()[0] == 3
        assert con.execute("select count(*) from evaluations").fetchone()[0] == 3 * 3 * 20  # runs x evals x episodes


def _database_content(path):
    """Every table except timings, and runs without wall time: what must not depend on interruptions."""
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        tables = [t for (t,) in con.execute("select table_name from information_schema.tables "
                                            "where table_type = 'BASE TABLE' and table_name <> 'timings'").fetchall()]
        content = {t: con.execute(f"select * exclude (wall_time_s) from {t} order by all" if t == "runs"
                                  else f"select * from {t} order by all").fetchall() for t in tables}
        # A view sums floats over threads: compare it to 9 decimals.
        content["final_scores"] = [tuple(round(v, 9) if isinstance(v, float) else v for v in row)
                                   for row in con.execute("select * from final_scores order by all").fetchall()]
    return content


@pytest.mark.slow
@pytest.mark.parametrize("signum", ["SIGKILL", "SIGTERM"])
def test_killed_workflow_resumes_to_the_same_database(tmp_path, signum):
    import signal
    import time

    config = copy.deepcopy(TOY)
    config["training"].update(steps=600, checkpoint_interval=50, eval_interval=200)
    dirs = {}
    for name in ("whole", "killed"):
        dirs[name] = tmp_path / name
        dirs[name].mkdir()
        copy_workflow(dirs[name])
    assert snakemake(dirs["whole"], config).returncode == 0

    killed = dirs["killed"]
    (killed / "config.yaml").write_text(yaml.safe_dump(config))
    proc = subprocess.Popen(SNAKEMAKE + ["--configfile", "config.yaml", "--cores", "2"], cwd=killed, env=job_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while not list((killed / "results/runs").rglob("checkpoint.pt")):
        assert time.time() < deadline and proc.poll() is None, "no checkpoint before the workflow ended"
        time.sleep(0.1)
    # Kill the running training jobs (Snakemake's session holds them); Snakemake reports them failed.
    jobs = subprocess.run(["pgrep", "-s", str(proc.pid), "-f", "drol train"], capture_output=True, text=True).stdout
    for pid in jobs.split():
        os.kill(int(pid), getattr(signal, signum))
    assert proc.wait(timeout=300) != 0
    assert not (killed / "results.duckdb").exists()
    result = snakemake(killed, config)
    assert result.returncode == 0, result.stderr[-3000:]
    logs = [p.read_text() for p in (killed / "logs/train").rglob("*.log")]
    assert any("resumed from step" in log for log in logs)
    assert _database_content(killed / "results.duckdb") == _database_content(dirs["whole"] / "results.duckdb")
