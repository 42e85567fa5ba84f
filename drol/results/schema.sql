-- results.duckdb: the tables. Built by `drol build-db` (drol/results/db.py) from run directories and the
-- reference tables in drol/registry/; every report is a query over these tables and the views in views.sql.
-- Written in DuckDB's v1.0.0 storage format so that DuckDB 1.x clients (CLI, R, older Python) can read it.
--
-- No PRIMARY KEY or UNIQUE constraints: DuckDB 2.0 writes their indexes in a form DuckDB 1.0 cannot read
-- (even in the v1.0.0 storage format); build_database checks the keys noted below instead.
--
-- Conventions: scores are x 100 (success rate x 100 on OGBench and the toy task, normalised return x 100 on
-- D4RL); JSON columns are VARCHAR holding JSON text (query them with json_extract / ->>); NULL means "not
-- recorded" (a run still running has no timing; a NaN training metric is stored as NULL by Parquet).

-- The task registry (drol.tasks.registry()), in registry order (`ord`).
CREATE TABLE tasks (
    name VARCHAR NOT NULL,             -- key
    ord INTEGER NOT NULL,              -- position in the registry (the paper's table order)
    suite VARCHAR NOT NULL,            -- ogbench, d4rl or toy
    family VARCHAR NOT NULL,           -- our family name (drol tasks), e.g. cube-single-play, d4rl-adroit-pen
    paper_family VARCHAR,              -- the family's name in the paper's Table 1 (paper_family_scores); NULL: toy
    representative BOOLEAN NOT NULL,   -- the task the paper tuned K on (* in Table 4)
    offline_steps BIGINT NOT NULL,     -- the paper's training length
    episode_limit INTEGER NOT NULL,
    scorer VARCHAR NOT NULL            -- success (x 100) or normalized_return (x 100)
);

-- Hyperparameters of each task and method label with provenance. `source` table3: the paper's Table 3
-- (FQL: FQL's README flags); `source` script: the released production script, listed only where it
-- disagrees with Table 3 (runs with hparams_source=script use the table3 row elsewhere).
CREATE TABLE hparams (
    task VARCHAR NOT NULL,
    label VARCHAR NOT NULL,            -- DROL(16), DROL or FQL
    source VARCHAR NOT NULL,           -- table3 or script
    coef_name VARCHAR NOT NULL,        -- bc_coef (DROL) or alpha (FQL)
    coef DOUBLE NOT NULL,
    K INTEGER,                         -- num_candidates; NULL for FQL
    discount DOUBLE NOT NULL,
    q_agg VARCHAR NOT NULL,            -- aggregation of the target ensemble in the TD target
    normalize_q_loss BOOLEAN NOT NULL,
    overrides VARCHAR NOT NULL,        -- JSON: every agent-config value the label sets on this task
    provenance VARCHAR NOT NULL
);  -- key: (task, label, source)

-- One row per run directory (its run.json, and timing.json's wall time).
-- The method registry (drol.methods): one row per method label, in display order. Views join it, so a
-- registered method shows in every aggregate and table without naming it anywhere else.
CREATE TABLE methods (
    label VARCHAR NOT NULL,            -- e.g. DROL(16); the label column of run_labels and the views
    method VARCHAR NOT NULL,           -- the method it trains (runs.method), e.g. drol
    ord INTEGER NOT NULL,              -- display order in tables and figures
    is_default BOOLEAN NOT NULL,       -- the method's default label (`drol train --method` without --label)
    has_k BOOLEAN NOT NULL,            -- the method has K candidates per state (runs.K is set)
    one_step BOOLEAN NOT NULL,         -- a one-step policy: underlined in Table 4 where bold
    colour VARCHAR NOT NULL,           -- figure colour
    marker VARCHAR NOT NULL,           -- figure marker
    linestyle VARCHAR NOT NULL,        -- figure line style
    description VARCHAR NOT NULL
);  -- key: label

CREATE TABLE runs (
    run_id VARCHAR NOT NULL,           -- key; hash of (method, task, seed, agent + train config, dataset fingerprint)
    method VARCHAR NOT NULL,           -- registered method, e.g. drol or fql (labels are in run_labels)
    task VARCHAR NOT NULL,
    suite VARCHAR NOT NULL,
    family VARCHAR NOT NULL,
    seed BIGINT NOT NULL,
    K INTEGER,                         -- num_candidates; NULL for fql
    hparams_source VARCHAR,            -- table3 or script
    steps BIGINT,                      -- configured training length
    batch_size INTEGER,
    eval_episodes INTEGER,
    actor_hidden_dims INTEGER[],
    value_hidden_dims INTEGER[],
    status VARCHAR NOT NULL,           -- finished, diverged, interrupted or running
    step BIGINT,                       -- updates done when run.json was last written
    diverged_at_step BIGINT,           -- set when status = diverged
    wall_time_s DOUBLE,                -- from timing.json; NULL while running
    device VARCHAR,
    data_route VARCHAR,                -- how the dataset was obtained: toy, ogbench, hdf5, d4rl, minari, ...
    success_timing VARCHAR,            -- when evaluation counted success: post (after the step; the paper's) or pre
    mujoco VARCHAR,                    -- MuJoCo version the run's environments ran on (the paper: 3.x OGBench, 2.x D4RL)
    dataset_fingerprint VARCHAR,
    dataset_size BIGINT,
    obs_dim INTEGER,
    action_dim INTEGER,
    config VARCHAR NOT NULL,           -- JSON {"agent": {...}, "train": {...}}
    versions VARCHAR,                  -- JSON package versions
    dataset_info VARCHAR,              -- JSON run.json dataset.info
    run_dir VARCHAR NOT NULL           -- run directory, relative to the database's directory (POSIX separators)
);

-- Which labels a run stands for (its run.json `labels`, written when the run was resolved): method labels
-- (see `methods`), K-sweep (a method's sweep label with K varied) and runtime (the workflow's timing runs).
-- One run may carry several.
CREATE TABLE run_labels (
    run_id VARCHAR NOT NULL,
    label VARCHAR NOT NULL
);  -- key: (run_id, label)

-- One row per evaluation episode (evals.parquet).
CREATE TABLE evaluations (
    run_id VARCHAR NOT NULL,
    step BIGINT NOT NULL,              -- update after which the policy was evaluated
    episode INTEGER NOT NULL,
    success BOOLEAN,
    "return" DOUBLE,                   -- undiscounted episode return
    score DOUBLE,                      -- normalised score x 100 (success x 100 or normalised return x 100)
    length BIGINT                      -- environment steps of the episode
);  -- key: (run_id, step, episode)

-- Training metrics in long format (train_metrics.parquet): losses, Q statistics, routing diagnostics, val loss.
CREATE TABLE train_metrics (
    run_id VARCHAR NOT NULL,
    step BIGINT NOT NULL,
    name VARCHAR NOT NULL,
    value DOUBLE                       -- NULL: the value was NaN
);

-- timing.json of each run that wrote one.
CREATE TABLE timings (
    run_id VARCHAR NOT NULL,           -- key
    ms_per_update DOUBLE,              -- mean over timed updates (evaluation and logging excluded), of the block
    block_seeds INTEGER,               -- seeds trained together in each timed update (1: a one-seed run)
    ms_per_inference_step DOUBLE,      -- batch-1 policy forward (for each seed of the block), median; NULL unless
                                       -- the run finished
    eval_env_steps_per_s DOUBLE,       -- of the block's evaluation (all its seeds' episodes together)
    wall_time_s DOUBLE,
    updates_timed BIGINT,
    device VARCHAR
);

-- Candidate sets at fixed dataset states at each evaluation (snapshots.parquet; FQL: 16 policy samples).
CREATE TABLE snapshots (
    run_id VARCHAR NOT NULL,
    step BIGINT NOT NULL,
    state_id INTEGER NOT NULL,
    candidate INTEGER NOT NULL,
    action DOUBLE[] NOT NULL           -- the candidate action (a0 .. a{action_dim-1})
);

-- The fixed dataset states of the snapshots (run.json snapshot_states).
CREATE TABLE snapshot_states (
    run_id VARCHAR NOT NULL,
    state_id INTEGER NOT NULL,
    observation DOUBLE[] NOT NULL
);  -- key: (run_id, state_id)

-- The paper's Table 4 (drol/registry/paper_table4.csv): per task and method label, mean and std over seeds.
CREATE TABLE paper_scores (
    ord INTEGER NOT NULL,              -- row of paper_table4.csv (the paper's order)
    task VARCHAR NOT NULL,
    representative BOOLEAN NOT NULL,
    label VARCHAR NOT NULL,            -- the paper's method: BC, IQL, ..., FQL, DROL(16), DROL
    mean DOUBLE,                       -- NULL where the paper gives no number
    std DOUBLE,
    mark VARCHAR                       -- b (bold), u (bold and underlined) or NULL
);  -- key: (task, label)

-- The paper's Table 1 (drol/registry/paper_table1.csv): per family and method label.
CREATE TABLE paper_family_scores (
    ord INTEGER NOT NULL,              -- row of paper_table1.csv (the paper's order)
    suite VARCHAR NOT NULL,            -- OGBench or D4RL
    family VARCHAR NOT NULL,           -- the paper's family name (tasks.paper_family)
    n_tasks INTEGER NOT NULL,
    label VARCHAR NOT NULL,
    mean DOUBLE,
    std DOUBLE,
    mark VARCHAR
);  -- key: (family, label)

-- D4RL reference scores for normalised returns (drol/registry/d4rl_ref_scores.csv).
CREATE TABLE d4rl_ref_scores (
    task VARCHAR NOT NULL,             -- key
    ref_min_score DOUBLE NOT NULL,
    ref_max_score DOUBLE NOT NULL,
    hdf5_file VARCHAR
);
