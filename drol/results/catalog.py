"""What results.duckdb says about itself: a comment on every table, view and column, and the `metrics` table.

`describe(con)` runs after the views are created (drol/results/db.py): it creates and fills `metrics` (one
row per training-metric name the project's methods record, with its unit and meaning) and comments every
table, view and column the database has. A column's comment is its object's entry in OBJECTS, else the
entry for its name in COLUMNS (columns that mean the same wherever they appear). tests/test_schema.py fails
when a table, view or column has no comment, or an entry names one the database lacks, so a column added
to schema.sql or views.sql needs a line here. `drol schema` prints the comments.

Units: a score is 0-100 (success x 100 on OGBench and the toy task, normalised return x 100 on D4RL), a std
is in the same score points; a step or update is one gradient update; times are in ms or s as the column
name says.
"""

from __future__ import annotations

from typing import NamedTuple

import duckdb


class Entry(NamedTuple):
    comment: str
    columns: dict[str, str]


class Metric(NamedTuple):
    name: str
    methods: tuple[str, ...]  # methods that record it (runs.method)
    kind: str  # update or validation
    unit: str
    meaning: str


# Columns that mean the same in every table and view that has them (an object's own entry wins).
_SCORE_SCALE = "0-100 (success x 100, or normalised return x 100 on D4RL)"
COLUMNS = {
    "run_id": "run identifier (runs.run_id)",
    "method": "training method (methods.method), e.g. drol or fql",
    "label": "label: a method label (table methods, e.g. DROL(16)), or K-sweep / runtime where study labels are "
             "included",
    "task": "task name (tasks.name), e.g. cube-single-play-singletask-task1-v0",
    "suite": "benchmark suite: ogbench, d4rl or toy",
    "family": "task family (ours, as `drol tasks` lists them), e.g. cube-single-play",
    "paper_family": "the family's name in the paper's Table 1 (e.g. cube-single-singletask); NULL for the toy task",
    "table1_family": "family of the paper's Table 1 (paper_family), our family where the paper has none",
    "representative": "the task the paper tuned K on (* in Table 4)",
    "seed": "training seed",
    "K": "candidate actions per state (num_candidates); NULL for a method without K (FQL)",
    "hparams_source": "hyperparameter source: table3 (the paper's Table 3) or script (the released script)",
    "steps": "configured training length, updates",
    "batch_size": "transitions per update, per seed",
    "eval_episodes": "episodes per evaluation",
    "data_route": "how the dataset was obtained: toy, ogbench, ogbench-regenerated, d4rl-hdf5, d4rl-package or minari",
    "success_timing": "when evaluation counted success: post (after the environment step; the paper's) or pre",
    "dataset_fingerprint": "sha256 (hex) of the training transitions: equal fingerprints, identical data",
    "status": "run status: finished, diverged, interrupted or running",
    "final_step": "step of the run's last evaluation, updates; its final score is that evaluation's",
    "setting": "the six setting columns (hparams_source, steps, batch_size, eval_episodes, data_route, "
               "success_timing) as one struct; aggregates never pool two settings",
    "counted": "the run enters the aggregates: finished or diverged",
    "counted_score": f"the score it enters the aggregates with, {_SCORE_SCALE}: the final score if finished, 0 if "
                     "diverged, NULL otherwise",
    "mean": f"mean over seeds, {_SCORE_SCALE}",
    "std": "sample standard deviation over seeds, score points; NULL for one seed",
    "n_seeds": "seeds with a counted (finished or diverged) run",
    "n_diverged": "diverged runs among the counted ones (each counted with score 0)",
    "n_unfinished": "runs still running or interrupted: not averaged",
    "seeds": "seeds of the counted runs, ascending",
    "n_tasks_min": "fewest tasks one seed's counted runs cover",
    "n_tasks_max": "most tasks one seed's counted runs cover",
    "family_tasks": "tasks the family has in the registry",
    "setting_rank": "rank of this setting under the selection rule (view settings); 1 is shown",
    "shown": "this is the setting the selection rule shows (setting_rank = 1): tables and figures use it",
    "actor_hidden_dims": "hidden layer widths of the actor network",
    "value_hidden_dims": "hidden layer widths of each critic (Q) network",
    "block_seeds": "seeds trained together in each timed update (1: a one-seed run)",
    "success_rate": "share of those episodes that succeeded, %",
    "n_episodes": "episodes averaged",
}

OBJECTS = {
    # Tables (schema.sql)
    "tasks": Entry("The task registry (`drol tasks`), one row per task in registry order (the paper's table order).", {
        "name": "task name (key), e.g. cube-single-play-singletask-task1-v0",
        "ord": "position in the registry: the paper's table order (from 0)",
        "offline_steps": "the paper's training length, updates",
        "episode_limit": "most environment steps of an evaluation episode",
        "scorer": "how an episode is scored: success (success x 100) or normalized_return (normalised return x 100)",
    }),
    "hparams": Entry("Hyperparameters per task and method label with provenance. source table3: the paper's Table 3 "
                     "(FQL: FQL's README flags); source script: the released production script, listed only where it "
                     "disagrees with Table 3. Key: (task, label, source).", {
        "label": "method label: DROL(16), DROL or FQL",
        "source": "table3 or script (see the table); runs.hparams_source says which one a run used",
        "coef_name": "the actor coefficient's name: bc_coef (DROL: weight of the BC loss) or alpha (FQL: weight of "
                     "the distillation loss)",
        "coef": "its value (dimensionless)",
        "K": "num_candidates: candidate actions per state; NULL for FQL",
        "discount": "discount factor (gamma) of the TD target",
        "q_agg": "aggregation of the target critic ensemble in the TD target: min or mean",
        "normalize_q_loss": "the actor's Q loss is divided by the batch's mean |Q|",
        "overrides": "JSON object: every agent-config value the label sets on this task",
        "provenance": "where the values come from (free text)",
    }),
    "methods": Entry("The method registry (drol.methods): one row per method label, in display order; the views join "
                     "it, so a registered method shows in every aggregate and table.", {
        "label": "method label (key), e.g. DROL(16)",
        "ord": "display order in tables and figures (from 0)",
        "is_default": "the method's default label (`drol train --method` without --label)",
        "has_k": "the method has K candidate actions per state (runs.K is set)",
        "one_step": "a one-step policy: underlined in Table 4 where bold",
        "colour": "figure colour (hex RGB)",
        "marker": "figure marker (matplotlib)",
        "linestyle": "figure line style (matplotlib)",
        "description": "what the label stands for (one line)",
    }),
    "runs": Entry("One row per run directory: its run.json, and timing.json's wall time.", {
        "run_id": "run identifier (key): hash of method, task, seed, agent and training config, dataset fingerprint",
        "step": "updates done when run.json was last written (rewritten as the run trains; steps once finished)",
        "checkpoint_step": "update of the last checkpoint: where a killed run resumes",
        "diverged_at_step": "update at which a training metric became non-finite; set when status = diverged",
        "wall_time_s": "wall-clock time of the run, s (timing.json); NULL while running",
        "device": "device the run trained on, as recorded, e.g. 'cpu (x86_64, 1 thread)'",
        "mujoco": "MuJoCo version the run's environments ran on",
        "dataset_size": "transitions in the training dataset",
        "obs_dim": "observation dimensions",
        "action_dim": "action dimensions (actions in [-1, 1])",
        "config": "JSON {\"agent\": {...}, \"train\": {...}}: the resolved agent and training config",
        "versions": "JSON: versions of Python and the packages the run used",
        "git_commit": "commit of the drol source that trained the run; NULL outside a git checkout",
        "git_dirty": "that source had uncommitted changes to tracked files",
        "dataset_info": "JSON: the dataset's description in run.json (file, generator, settings, checksums)",
        "run_dir": "run directory, relative to the database's directory (POSIX separators)",
    }),
    "run_labels": Entry("Which labels each run stands for (run.json `labels`): method labels (table methods), K-sweep "
                        "(a method's sweep label with K varied) and runtime (the workflow's timing runs); one run may "
                        "carry several. Key: (run_id, label).", {
        "label": "a method label (methods.label), K-sweep or runtime",
    }),
    "evaluations": Entry("One row per evaluation episode (evals.parquet; a run still training: its live records so "
                         "far). Key: (run_id, step, episode).", {
        "step": "update after which the policy was evaluated",
        "episode": "episode index within the evaluation (from 0)",
        "success": "the episode succeeded (the environment's success flag)",
        "return": "undiscounted episode return (sum of rewards)",
        "score": f"episode score, {_SCORE_SCALE}",
        "length": "environment steps of the episode",
    }),
    "train_metrics": Entry("Training and validation metrics in long format (train_metrics.parquet; a run still "
                           "training: its live records so far): one row per run, step and metric; table metrics "
                           "documents every name.", {
        "step": "update at which the metric was recorded (log steps: 1, every log_interval and the last; validation: "
                "1 and every val_interval)",
        "name": "metric name (metrics.name)",
        "value": "the value, in the metric's unit (metrics.unit); NULL: it was NaN",
    }),
    "timings": Entry("timing.json of each run that wrote one: speed of training, inference and evaluation.", {
        "run_id": "run identifier (runs.run_id; key)",
        "ms_per_update": "ms per update of the whole seed block (mean over the timed updates; evaluation and logging "
                         "excluded)",
        "ms_per_inference_step": "ms per batch-1 policy forward of each seed of the block (median); NULL unless the "
                                 "run finished",
        "eval_env_steps_per_s": "environment steps per s during evaluation, the block's seeds' episodes together",
        "wall_time_s": "wall-clock time of the run, s",
        "updates_timed": "updates that ms_per_update averages",
        "device": "device the timing was measured on (as runs.device)",
    }),
    "snapshots": Entry("Candidate actions at fixed dataset states at each evaluation (snapshots.parquet): DROL's K "
                       "candidates, FQL's 16 policy samples.", {
        "step": "update after which the candidates were drawn (an evaluation step)",
        "state_id": "fixed state (snapshot_states.state_id)",
        "candidate": "candidate index (0 .. K-1)",
        "action": "the candidate action: action_dim values in [-1, 1]",
    }),
    "snapshot_states": Entry("The fixed dataset states of the snapshots (run.json snapshot_states). Key: (run_id, "
                             "state_id).", {
        "state_id": "state index (from 0)",
        "observation": "the observation: obs_dim values",
    }),
    "paper_scores": Entry("The paper's Table 4 (drol/registry/paper_table4.csv): per task and method, mean and std "
                          "over seeds. Key: (task, label).", {
        "ord": "row of paper_table4.csv (the paper's order)",
        "label": "the paper's method: BC, IQL, ..., FQL, DROL(16), DROL",
        "mean": f"the paper's mean over seeds, {_SCORE_SCALE}; NULL where the paper gives no number",
        "std": "the paper's standard deviation over seeds, score points",
        "mark": "b (bold), u (bold and underlined) or NULL",
    }),
    "paper_family_scores": Entry("The paper's Table 1 (drol/registry/paper_table1.csv): per family and method, mean "
                                 "and std over seeds. Key: (family, label).", {
        "ord": "row of paper_table1.csv (the paper's order)",
        "suite": "the paper's suite: OGBench or D4RL",
        "family": "the paper's family name (tasks.paper_family)",
        "n_tasks": "tasks in the paper's family mean",
        "label": "the paper's method: BC, IQL, ..., FQL, DROL(16), DROL",
        "mean": f"the paper's mean over seeds, {_SCORE_SCALE}; NULL where the paper gives no number",
        "std": "the paper's standard deviation over seeds, score points",
        "mark": "b (bold), u (bold and underlined) or NULL",
    }),
    "d4rl_ref_scores": Entry("D4RL reference returns (drol/registry/d4rl_ref_scores.csv): score = 100 x (return - "
                             "ref_min_score) / (ref_max_score - ref_min_score).", {
        "task": "D4RL task name (key)",
        "ref_min_score": "return of the random policy: score 0",
        "ref_max_score": "return of the expert policy: score 100",
        "hdf5_file": "file name of the task's D4RL HDF5 dataset; NULL if none",
    }),
    "metrics": Entry("One row per training or validation metric name the project's methods record (train_metrics."
                     "name): which methods, its unit and meaning.", {
        "name": "metric name (key; train_metrics.name)",
        "methods": "methods that record it (runs.method)",
        "kind": "update: from the training batch at a log step; validation: from a held-out batch (the dataset's "
                "validation split) every val_interval updates",
        "unit": "unit of train_metrics.value: return units (a discounted sum of rewards), action units (actions in "
                "[-1, 1]), nats, fraction, 1 (dimensionless) or mixed",
        "meaning": "what the value is",
    }),
    # Views (views.sql)
    "final_scores": Entry("One row per run with at least one evaluation: its final score, the mean over the episodes "
                          "of its last evaluation.", {
        "at_configured_end": "the last evaluation is at the configured end (final_step = steps)",
        "score": f"final score, {_SCORE_SCALE}: mean episode score at final_step",
        "mean_return": "mean undiscounted return of those episodes",
        "n_episodes": "episodes at final_step",
        "labels": "the run's labels (run_labels), sorted",
    }),
    "labelled_runs": Entry("One row per (run, label) with the run's final score, labels K-sweep and runtime "
                           "included: the building block of the aggregates.", {
        "score": f"final score (final_scores.score), {_SCORE_SCALE}; NULL: no evaluation yet",
    }),
    "result_runs": Entry("The (run, label) rows that count as results: method labels and K-sweep, without the "
                         "workflow's timing runs (label runtime); adds table1_family, counted, counted_score and "
                         "setting.", {
        "score": f"final score, {_SCORE_SCALE}; NULL: no evaluation yet",
    }),
    "settings": Entry("The selection rule: per grain (task, family, table1_family), name and label, one row per "
                      "setting of its result runs with their counts, ranked; shown marks the setting every table, "
                      "view and figure uses (the ranking is documented in views.sql).", {
        "grain": "what name is: task, family (ours) or table1_family",
        "name": "the task or family",
        "n_runs": "counted runs (a K sweep: seeds x K)",
        "n_tasks": "tasks the counted runs cover",
    }),
    "task_scores": Entry("Per task, method label and setting: mean and sample std over seeds of the final scores "
                         "(a diverged run counts as 0); one row per setting, shown marks the one the selection rule "
                         "shows.", {
        "label": "method label (table methods)",
        "n_datasets": "distinct training datasets (fingerprints) among the counted runs; 1 expected",
    }),
    "family_scores": Entry("Per family (ours), method label and setting: for each seed the mean over the family's "
                           "tasks, then mean and sample std over seeds.", {
        "label": "method label (table methods)",
        "mean": f"mean over seeds of each seed's family mean, {_SCORE_SCALE}",
        "n_seeds": "seeds with a counted run in the family",
    }),
    "table1_scores": Entry("Per family of the paper's Table 1, method label and setting: for each seed the mean over "
                           "the family's tasks, then mean and sample std over seeds; n_seeds 0 and no mean: no run "
                           "counted.", {
        "family": "family of the paper's Table 1 (table1_family)",
        "label": "method label (table methods)",
        "mean": f"mean over seeds of each seed's family mean, {_SCORE_SCALE}",
        "tasks": "tasks the counted runs cover, sorted",
    }),
    "table4": Entry("The paper's Table 4 beside ours: every paper_scores row plus our rows the paper lacks; ours in "
                    "the setting the selection rule shows (one row per task and label; the others are in "
                    "task_scores).", {
        "label": "method: the paper's (BC, IQL, ...) or a method label of ours (table methods)",
        "K": "K of our runs (num_candidates); NULL for a method without K or where we have no run",
        "ours_mean": f"our mean over seeds of the final scores, {_SCORE_SCALE}; NULL: no counted run",
        "ours_std": "our sample standard deviation over seeds, score points",
        "paper_mean": f"the paper's mean, {_SCORE_SCALE}",
        "paper_std": "the paper's standard deviation, score points",
        "paper_mark": "the paper's mark: b (bold), u (bold and underlined) or NULL",
        "delta": "ours_mean - paper_mean, score points",
    }),
    "table1": Entry("The paper's Table 1 beside ours, per Table 1 family: every paper_family_scores row plus our "
                    "families the paper lacks; ours in the setting the selection rule shows.", {
        "suite": "the paper's suite: OGBench or D4RL; NULL for a family the paper lacks",
        "family": "family of the paper's Table 1 (table1_family)",
        "label": "method: the paper's (BC, IQL, ...) or a method label of ours (table methods)",
        "ours_mean": f"our mean over seeds of each seed's family mean, {_SCORE_SCALE}; NULL: no counted run",
        "ours_std": "our sample standard deviation over seeds, score points",
        "paper_n_tasks": "tasks in the paper's family mean",
        "paper_mean": f"the paper's mean, {_SCORE_SCALE}",
        "paper_std": "the paper's standard deviation, score points",
        "paper_mark": "the paper's mark: b (bold), u (bold and underlined) or NULL",
        "delta": "ours_mean - paper_mean, score points",
    }),
    "k_sensitivity": Entry("K sensitivity: the counted K-sweep runs (a method's sweep label with K varied) per task, "
                           "setting and K: mean and sample std over seeds of the final scores.", {}),
    "shown_runs": Entry("What the figures draw: the (run, label) rows of result_runs whose setting the selection rule "
                        "shows for their task or their Table 1 family.", {
        "score": f"final score, {_SCORE_SCALE}",
        "for_task": "shown for its task: Table 4, learning curves, the K figures",
        "for_table1": "shown for its Table 1 family: Table 1, the statistics, performance profiles",
    }),
    "runtime": Entry("Runtime (the paper's Fig. 3 bottom): medians over the timed runs (updates_timed > 0) of one "
                     "method, K, task, device, network and batch shape, training length and seed-block size; shown "
                     "marks the rows the runtime figure draws (one setup, chosen as views.sql documents).", {
        "device": "device the timings were measured on",
        "steps": "configured training length of the timed runs, updates",
        "timing_runs": "the rows are the workflow's timing runs (label runtime), never pooled with other runs",
        "ms_per_update": "median ms per update of the whole seed block",
        "ms_per_inference_step": "median ms per batch-1 policy forward",
        "eval_env_steps_per_s": "median evaluation environment steps per s",
        "n_runs": "runs in the medians",
        "shown": "the runtime figure draws this row: one-seed runs of the one setup (timing_runs, task, device, "
                 "networks, batch, steps) chosen for it",
    }),
    "learning_curves": Entry("Learning curves: per run, label and evaluation step, the mean over that evaluation's "
                             "episodes.", {
        "label": "a label of the run (run_labels); NULL for a run no label names",
        "step": "evaluation step, updates",
        "shown": "the run and label are of the setting the selection rule shows for the task (shown_runs.for_task): "
                 "the figures draw these",
        "score": f"mean episode score at this step, {_SCORE_SCALE}",
    }),
}

_BOTH = ("drol", "fql")
_LOSS = "action units^2"
_Q = "return units"
METRICS = (
    Metric("critic_loss", _BOTH, "update", f"{_Q}^2",
           "TD loss: mean over ensemble members and batch of (Q_i(s, a) - y)^2, y = r + discount x mask x the "
           "target ensemble's q_agg of Q(s', a'), a' one policy sample"),
    Metric("q_mean", _BOTH, "update", _Q, "mean of Q_i(s, a) over ensemble members and the batch's dataset actions"),
    Metric("q_max", _BOTH, "update", _Q, "largest Q_i(s, a) over ensemble members and the batch's dataset actions"),
    Metric("q_min", _BOTH, "update", _Q, "smallest Q_i(s, a) over ensemble members and the batch's dataset actions"),
    Metric("actor_loss", _BOTH, "update", "mixed (a weighted sum of losses)",
           "the actor's objective: DROL bc_coef x bc_loss + q_loss; FQL bc_flow_loss + alpha x distill_loss + q_loss"),
    Metric("q_loss", _BOTH, "update", f"{_Q}; 1 with normalize_q_loss",
           "-mean Q (actor_q_agg over the ensemble) of the policy's action (DROL: the routed winner; FQL: the "
           "one-step action), divided by the batch's mean |Q| with normalize_q_loss"),
    Metric("actor_q", _BOTH, "update", _Q,
           "batch mean of the Q (actor_q_agg over the ensemble) of the policy's action"),
    Metric("total_loss", _BOTH, "update", "mixed (a sum of losses)",
           "critic_loss + actor_loss: the loss one update descends"),
    Metric("grad_norm", _BOTH, "update", "1 (an L2 norm)",
           "L2 norm of the gradient of total_loss over all actor and critic parameters"),
    Metric("bc_loss", ("drol",), "update", _LOSS,
           "routed behaviour cloning: squared error, mean over action dimensions and batch, between each dataset "
           "action and its nearest (winning) candidate"),
    Metric("pairwise_distance", ("drol",), "update", _LOSS,
           "candidate spread: squared distance / action_dim between two of a state's K candidates, mean over "
           "pairs and states (0 for K = 1)"),
    Metric("centroid_divergence", ("drol",), "update", _LOSS,
           "squared distance per action dimension of each candidate from its state's candidate mean, mean over "
           "candidates and states"),
    Metric("winner_entropy", ("drol",), "update", "nats (0 to ln K)",
           "entropy of how often each of the K candidates wins the routing over the batch (ln K: uniform)"),
    Metric("winner_max_prob", ("drol",), "update", "fraction (1/K to 1)",
           "share of the batch's dataset actions routed to the most frequent winning candidate"),
    Metric("bc_flow_loss", ("fql",), "update", _LOSS,
           "flow matching: squared error, mean over action dimensions and batch, of the BC flow's velocity at x_t "
           "against the target a - x0"),
    Metric("distill_loss", ("fql",), "update", _LOSS,
           "squared error, mean over action dimensions and batch, between the one-step policy's action and the BC "
           "flow's Euler endpoint for the same noise"),
    Metric("val_bc_loss", _BOTH, "validation", _LOSS,
           "the BC loss on a held-out batch: DROL's bc_loss, FQL's bc_flow_loss"),
)

_METRICS_TABLE = ("CREATE TABLE metrics (name VARCHAR NOT NULL, methods VARCHAR[] NOT NULL, kind VARCHAR NOT NULL, "
                  "unit VARCHAR NOT NULL, meaning VARCHAR NOT NULL)")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def describe(con: duckdb.DuckDBPyConnection) -> None:
    """Create and fill `metrics`, then comment every table, view and column of the current database that
    OBJECTS or COLUMNS describes."""
    con.execute(_METRICS_TABLE)
    con.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?)",
                    [[m.name, list(m.methods), m.kind, m.unit, m.meaning] for m in METRICS])
    objects = con.execute(
        "SELECT table_name, 'TABLE' FROM duckdb_tables() WHERE database_name = current_database() "
        "UNION ALL SELECT view_name, 'VIEW' FROM duckdb_views() WHERE database_name = current_database() "
        "AND NOT internal").fetchall()
    for name, kind in objects:
        entry = OBJECTS.get(name, Entry("", {}))
        if entry.comment:
            con.execute(f"COMMENT ON {kind} {_ident(name)} IS {_literal(entry.comment)}")
        columns = con.execute("SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
                              "AND table_name = ? ORDER BY column_index", [name]).fetchall()
        for (column,) in columns:
            comment = entry.columns.get(column) or COLUMNS.get(column)
            if comment:
                con.execute(f"COMMENT ON COLUMN {_ident(name)}.{_ident(column)} IS {_literal(comment)}")
