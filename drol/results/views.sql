-- results.duckdb: the views every report reads. Plain SQL, created by `drol build-db` after the tables of
-- schema.sql are loaded; kept to SQL that DuckDB 1.0 binds, since views are re-bound by the client that
-- opens the file.
--
-- Rules (DESIGN section 5):
--   * the final score of a run is its evaluation at its LAST evaluated step: the mean score over that
--     evaluation's episodes (every evaluation stays in `evaluations` for any other rule);
--   * per task: mean and sample std (stddev_samp; NULL for one seed) over seeds of final scores;
--   * per family: for each seed the mean over the family's tasks, then mean and sample std over seeds;
--   * only runs with status 'finished' enter the aggregates; diverged, interrupted and running runs are
--     counted in `n_unfinished` (task_scores) and are visible in `runs` / `final_scores`.
--
-- Aggregates never pool runs of different settings: every aggregate view is grouped by
-- (hparams_source, steps, batch_size, eval_episodes, data_route) as well as by task/family and label, so
-- a shortened run or a run on another data route is a separate row, never averaged with the paper-length
-- one. In a database built from one workflow config there is usually one setting per task.

-- One row per run that has at least one evaluation.
CREATE VIEW final_scores AS
WITH last AS (
    SELECT run_id, max(step) AS final_step FROM evaluations GROUP BY run_id
), final AS (
    SELECT e.run_id, l.final_step, avg(e.score) AS score, 100 * avg(CAST(e.success AS DOUBLE)) AS success_rate,
           avg(e."return") AS mean_return, count(*) AS n_episodes
    FROM evaluations e JOIN last l ON e.run_id = l.run_id AND e.step = l.final_step
    GROUP BY e.run_id, l.final_step
), labels AS (
    SELECT run_id, list(label ORDER BY label) AS labels FROM run_labels GROUP BY run_id
)
SELECT r.run_id, r.method, r.task, r.suite, r.family, r.seed, r.K, r.hparams_source, r.steps, r.batch_size,
       r.eval_episodes, r.data_route, r.status, f.final_step, f.final_step = r.steps AS at_configured_end,
       f.score, f.success_rate, f.mean_return, f.n_episodes, labels.labels
FROM runs r
JOIN final f ON f.run_id = r.run_id
LEFT JOIN labels ON labels.run_id = r.run_id
ORDER BY r.run_id;

-- One row per (run, label) with the run's final score (NULL when it has no evaluation yet); labels include
-- K-sweep. The building block of the aggregates below.
CREATE VIEW labelled_runs AS
SELECT rl.label, r.run_id, r.method, r.task, r.suite, r.family, t.paper_family, r.seed, r.K, r.hparams_source,
       r.steps, r.batch_size, r.eval_episodes, r.data_route, r.dataset_fingerprint, r.status, f.final_step, f.score
FROM runs r
JOIN run_labels rl ON rl.run_id = r.run_id
LEFT JOIN final_scores f ON f.run_id = r.run_id
LEFT JOIN tasks t ON t.name = r.task
ORDER BY rl.label, r.run_id;

-- Per task and paper label (DROL(16), DROL, FQL): mean and std over seeds of the final scores.
CREATE VIEW task_scores AS
SELECT task, label, suite, family, hparams_source, steps, batch_size, eval_episodes, data_route,
       avg(score) FILTER (WHERE status = 'finished') AS mean,
       stddev_samp(score) FILTER (WHERE status = 'finished') AS std,
       count(DISTINCT seed) FILTER (WHERE status = 'finished') AS n_seeds,
       list(seed ORDER BY seed) FILTER (WHERE status = 'finished') AS seeds,
       count(DISTINCT dataset_fingerprint) FILTER (WHERE status = 'finished') AS n_datasets,
       count(*) FILTER (WHERE status <> 'finished') AS n_unfinished
FROM labelled_runs
WHERE label IN ('DROL(16)', 'DROL', 'FQL')
GROUP BY task, label, suite, family, hparams_source, steps, batch_size, eval_episodes, data_route
ORDER BY task, label, hparams_source, steps, batch_size, eval_episodes, data_route;

-- Per family (ours, as in `drol tasks`) and label: for each seed the mean over the family's tasks, then mean
-- and std over seeds. n_tasks_min/max: tasks a seed covers (fewest/most); family_tasks: tasks the family has.
CREATE VIEW family_scores AS
WITH per_seed AS (
    SELECT suite, family, label, hparams_source, steps, batch_size, eval_episodes, data_route, seed,
           avg(score) AS score, count(DISTINCT task) AS n_tasks
    FROM labelled_runs
    WHERE status = 'finished' AND label IN ('DROL(16)', 'DROL', 'FQL')
    GROUP BY suite, family, label, hparams_source, steps, batch_size, eval_episodes, data_route, seed
), sizes AS (
    SELECT family, count(*) AS family_tasks FROM tasks GROUP BY family
)
SELECT p.suite, p.family, p.label, p.hparams_source, p.steps, p.batch_size, p.eval_episodes, p.data_route,
       avg(p.score) AS mean, stddev_samp(p.score) AS std, count(*) AS n_seeds,
       min(p.n_tasks) AS n_tasks_min, max(p.n_tasks) AS n_tasks_max, any_value(s.family_tasks) AS family_tasks
FROM per_seed p LEFT JOIN sizes s ON s.family = p.family
GROUP BY p.suite, p.family, p.label, p.hparams_source, p.steps, p.batch_size, p.eval_episodes, p.data_route
ORDER BY p.family, p.label, p.hparams_source, p.steps, p.batch_size, p.eval_episodes, p.data_route;

-- The paper's Table 4 beside ours: every row of paper_scores (all 11 methods; ours NULL where we have no
-- finished run of that task and label) plus our rows the paper lacks (the toy task). delta = ours - paper.
CREATE VIEW table4 AS
SELECT coalesce(p.task, o.task) AS task, t.suite, t.family,
       coalesce(p.representative, t.representative) AS representative,
       coalesce(p.label, o.label) AS label,
       o.hparams_source, o.steps, o.batch_size, o.eval_episodes, o.data_route,
       o.mean AS ours_mean, o.std AS ours_std, o.n_seeds,
       p.mean AS paper_mean, p.std AS paper_std, p.mark AS paper_mark,
       o.mean - p.mean AS delta
FROM paper_scores p
FULL OUTER JOIN task_scores o ON o.task = p.task AND o.label = p.label
LEFT JOIN tasks t ON t.name = coalesce(p.task, o.task)
ORDER BY coalesce(t.ord, 1000000), coalesce(p.task, o.task), coalesce(p.ord, 1000000), coalesce(p.label, o.label),
         o.hparams_source, o.steps, o.batch_size, o.eval_episodes, o.data_route;

-- The paper's Table 1 beside ours, per paper family (tasks.paper_family maps our families onto the paper's:
-- antmaze-large-navigate -> antmaze-large-singletask, ..., d4rl-antmaze -> antmaze, the four d4rl-adroit-*
-- families -> adroit). Per seed the mean over the paper family's tasks, then mean and std over seeds.
-- n_tasks_min/max: tasks a seed covers; paper_n_tasks: tasks in the paper's family mean.
CREATE VIEW table1 AS
WITH per_seed AS (
    SELECT paper_family, label, hparams_source, steps, batch_size, eval_episodes, data_route, seed,
           avg(score) AS score, count(DISTINCT task) AS n_tasks
    FROM labelled_runs
    WHERE status = 'finished' AND label IN ('DROL(16)', 'DROL', 'FQL') AND paper_family IS NOT NULL
    GROUP BY paper_family, label, hparams_source, steps, batch_size, eval_episodes, data_route, seed
), ours AS (
    SELECT paper_family, label, hparams_source, steps, batch_size, eval_episodes, data_route,
           avg(score) AS mean, stddev_samp(score) AS std, count(*) AS n_seeds,
           min(n_tasks) AS n_tasks_min, max(n_tasks) AS n_tasks_max
    FROM per_seed
    GROUP BY paper_family, label, hparams_source, steps, batch_size, eval_episodes, data_route
)
SELECT p.suite, coalesce(p.family, o.paper_family) AS family, coalesce(p.label, o.label) AS label,
       o.hparams_source, o.steps, o.batch_size, o.eval_episodes, o.data_route,
       o.mean AS ours_mean, o.std AS ours_std, o.n_seeds, o.n_tasks_min, o.n_tasks_max, p.n_tasks AS paper_n_tasks,
       p.mean AS paper_mean, p.std AS paper_std, p.mark AS paper_mark,
       o.mean - p.mean AS delta
FROM paper_family_scores p
FULL OUTER JOIN ours o ON o.paper_family = p.family AND o.label = p.label
ORDER BY coalesce(p.ord, 1000000), coalesce(p.family, o.paper_family), coalesce(p.label, o.label),
         o.hparams_source, o.steps, o.batch_size, o.eval_episodes, o.data_route;

-- K sensitivity: final scores of the K-sweep runs (drol, DROL(16) configuration except K), per task and K.
CREATE VIEW k_sensitivity AS
SELECT task, family, K, hparams_source, steps, batch_size, eval_episodes, data_route,
       avg(score) AS mean, stddev_samp(score) AS std, count(DISTINCT seed) AS n_seeds,
       list(seed ORDER BY seed) AS seeds
FROM labelled_runs
WHERE label = 'K-sweep' AND status = 'finished'
GROUP BY task, family, K, hparams_source, steps, batch_size, eval_episodes, data_route
ORDER BY task, hparams_source, steps, batch_size, eval_episodes, data_route, K;

-- Runtime: medians over runs of the same method, K, device and network/batch shape.
CREATE VIEW runtime AS
SELECT r.method, r.K, t.device, r.actor_hidden_dims, r.value_hidden_dims, r.batch_size,
       median(t.ms_per_update) AS ms_per_update, median(t.ms_per_inference_step) AS ms_per_inference_step,
       median(t.eval_env_steps_per_s) AS eval_env_steps_per_s,
       count(*) AS n_runs, count(DISTINCT r.task) AS n_tasks
FROM timings t JOIN runs r ON r.run_id = t.run_id
WHERE t.updates_timed > 0
GROUP BY r.method, r.K, t.device, r.actor_hidden_dims, r.value_hidden_dims, r.batch_size
ORDER BY r.method, r.K, t.device, r.batch_size;

-- Learning curves: per run, label (NULL for a run no label names) and evaluation step, the mean score.
CREATE VIEW learning_curves AS
SELECT r.run_id, r.task, r.family, r.method, r.K, r.seed, rl.label, r.status, r.hparams_source, r.steps,
       r.batch_size, r.eval_episodes, r.data_route, e.step,
       avg(e.score) AS score, 100 * avg(CAST(e.success AS DOUBLE)) AS success_rate, count(*) AS n_episodes
FROM evaluations e
JOIN runs r ON r.run_id = e.run_id
LEFT JOIN run_labels rl ON rl.run_id = e.run_id
GROUP BY r.run_id, r.task, r.family, r.method, r.K, r.seed, rl.label, r.status, r.hparams_source, r.steps,
         r.batch_size, r.eval_episodes, r.data_route, e.step
ORDER BY r.run_id, rl.label, e.step;
