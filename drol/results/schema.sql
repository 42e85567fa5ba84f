-- results.duckdb: the tables. Built by `drol build-db` (drol/results/db.py) from run directories and the
-- reference tables in drol/registry/; every report is a query over these tables and the views in views.sql.
-- Written in DuckDB's v1.0.0 storage format so that DuckDB 1.x clients (CLI, R, older Python) can read it.
--
-- No PRIMARY KEY or UNIQUE constraints: DuckDB 2.0 writes their indexes in a form DuckDB 1.0 cannot read
-- (even in the v1.0.0 storage format); build_database checks the keys noted below instead.
--
-- What each table and column means, with units, is in drol/results/catalog.py, which build_database writes
-- as COMMENT ON statements (`drol schema` prints them); this file holds the structure.
--
-- Conventions: scores are x 100 (success rate x 100 on OGBench and the toy task, normalised return x 100 on
-- D4RL); JSON columns are VARCHAR holding JSON text (query them with json_extract / ->>); NULL means "not
-- recorded" (a run still running has no timing; a NaN training metric is stored as NULL by Parquet).

-- The task registry (drol.tasks.registry()), in registry order (`ord`).
CREATE TABLE tasks (
    name VARCHAR NOT NULL,
    ord INTEGER NOT NULL,
    suite VARCHAR NOT NULL,
    family VARCHAR NOT NULL,
    paper_family VARCHAR,
    representative BOOLEAN NOT NULL,
    offline_steps BIGINT NOT NULL,
    episode_limit INTEGER NOT NULL,
    scorer VARCHAR NOT NULL
);

-- Hyperparameters of each task and method label with provenance. `source` table3: the paper's Table 3
-- (FQL: FQL's README flags); `source` script: the released production script, listed only where it
-- disagrees with Table 3 (runs with hparams_source=script use the table3 row elsewhere).
CREATE TABLE hparams (
    task VARCHAR NOT NULL,
    label VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    coef_name VARCHAR NOT NULL,
    coef DOUBLE NOT NULL,
    K INTEGER,
    discount DOUBLE NOT NULL,
    q_agg VARCHAR NOT NULL,
    normalize_q_loss BOOLEAN NOT NULL,
    overrides VARCHAR NOT NULL,
    provenance VARCHAR NOT NULL
);  -- key: (task, label, source)

-- One row per run directory (its run.json, and timing.json's wall time).
-- The method registry (drol.methods): one row per method label, in display order. Views join it, so a
-- registered method shows in every aggregate and table without naming it anywhere else.
CREATE TABLE methods (
    label VARCHAR NOT NULL,
    method VARCHAR NOT NULL,
    ord INTEGER NOT NULL,
    is_default BOOLEAN NOT NULL,
    has_k BOOLEAN NOT NULL,
    one_step BOOLEAN NOT NULL,
    colour VARCHAR NOT NULL,
    marker VARCHAR NOT NULL,
    linestyle VARCHAR NOT NULL,
    description VARCHAR NOT NULL
);  -- key: label

CREATE TABLE runs (
    run_id VARCHAR NOT NULL,
    method VARCHAR NOT NULL,
    task VARCHAR NOT NULL,
    suite VARCHAR NOT NULL,
    family VARCHAR NOT NULL,
    seed BIGINT NOT NULL,
    K INTEGER,
    hparams_source VARCHAR,
    steps BIGINT,
    batch_size INTEGER,
    eval_episodes INTEGER,
    actor_hidden_dims INTEGER[],
    value_hidden_dims INTEGER[],
    status VARCHAR NOT NULL,
    step BIGINT,
    checkpoint_step BIGINT,
    diverged_at_step BIGINT,
    wall_time_s DOUBLE,
    device VARCHAR,
    data_route VARCHAR,
    success_timing VARCHAR,
    mujoco VARCHAR,
    dataset_fingerprint VARCHAR,
    dataset_size BIGINT,
    obs_dim INTEGER,
    action_dim INTEGER,
    config VARCHAR NOT NULL,
    versions VARCHAR,
    git_commit VARCHAR,
    git_dirty BOOLEAN,
    dataset_info VARCHAR,
    run_dir VARCHAR NOT NULL
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
    step BIGINT NOT NULL,
    episode INTEGER NOT NULL,
    success BOOLEAN,
    "return" DOUBLE,                   -- undiscounted episode return
    score DOUBLE,
    length BIGINT
);  -- key: (run_id, step, episode)

-- Training metrics in long format (train_metrics.parquet): losses, Q statistics, routing diagnostics, val loss.
CREATE TABLE train_metrics (
    run_id VARCHAR NOT NULL,
    step BIGINT NOT NULL,
    name VARCHAR NOT NULL,
    value DOUBLE
);

-- timing.json of each run that wrote one.
CREATE TABLE timings (
    run_id VARCHAR NOT NULL,
    ms_per_update DOUBLE,
    block_seeds INTEGER,
    ms_per_inference_step DOUBLE,
                                       -- the run finished
    eval_env_steps_per_s DOUBLE,
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
    action DOUBLE[] NOT NULL
);

-- The fixed dataset states of the snapshots (run.json snapshot_states).
CREATE TABLE snapshot_states (
    run_id VARCHAR NOT NULL,
    state_id INTEGER NOT NULL,
    observation DOUBLE[] NOT NULL
);  -- key: (run_id, state_id)

-- The paper's Table 4 (drol/registry/paper_table4.csv): per task and method label, mean and std over seeds.
CREATE TABLE paper_scores (
    ord INTEGER NOT NULL,
    task VARCHAR NOT NULL,
    representative BOOLEAN NOT NULL,
    label VARCHAR NOT NULL,
    mean DOUBLE,
    std DOUBLE,
    mark VARCHAR
);  -- key: (task, label)

-- The paper's Table 1 (drol/registry/paper_table1.csv): per family and method label.
CREATE TABLE paper_family_scores (
    ord INTEGER NOT NULL,
    suite VARCHAR NOT NULL,
    family VARCHAR NOT NULL,
    n_tasks INTEGER NOT NULL,
    label VARCHAR NOT NULL,
    mean DOUBLE,
    std DOUBLE,
    mark VARCHAR
);  -- key: (family, label)

-- D4RL reference scores for normalised returns (drol/registry/d4rl_ref_scores.csv).
CREATE TABLE d4rl_ref_scores (
    task VARCHAR NOT NULL,
    ref_min_score DOUBLE NOT NULL,
    ref_max_score DOUBLE NOT NULL,
    hdf5_file VARCHAR
);
