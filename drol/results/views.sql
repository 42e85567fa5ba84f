-- results.duckdb: the views every report reads. Plain SQL, created by `drol build-db` after the tables of
-- schema.sql are loaded; kept to SQL that DuckDB 1.0 binds, since views are re-bound by the client that
-- opens the file.
--
-- Rules (DESIGN section 5):
--   * the final score of a run is its evaluation at its LAST evaluated step: the mean score over that
--     evaluation's episodes (every evaluation stays in `evaluations` for any other rule);
--   * per task: mean and sample std (stddev_samp; NULL for one seed) over seeds of final scores;
--   * per family: for each seed the mean over the family's tasks, then mean and sample std over seeds;
--   * the aggregates count finished AND diverged runs (`result_runs.counted`), as the paper's released code
--     would: it never stops a run, so a seed that diverges still gets a final score, almost surely 0 (its
--     policy outputs NaN). A diverged run counts with the score 0 (`counted_score`: success
--     0 on OGBench and the toy task, a random policy's normalised return on D4RL), whatever it scored before
--     diverging; `n_diverged` beside every mean says how many seeds that is. Interrupted and running runs
--     are not averaged: they are counted in `n_unfinished` and visible in `runs` / `final_scores`.
--
-- Aggregates never pool runs of different settings: every aggregate view is grouped by
-- (hparams_source, steps, batch_size, eval_episodes, data_route, success_timing) as well as by task/family
-- and label, so a shortened run, a run on another data route or one whose evaluation counted success
-- before the step ('pre') is a separate row, never averaged with the paper-length one. In a database built from one workflow config there is usually one setting per task. Which setting
-- a table, a view and a figure show is decided once, by the view `settings` (the selection rule, below);
-- the workflow's timing runs (label 'runtime') are never method results (`result_runs`).

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
       r.eval_episodes, r.data_route, r.success_timing, r.status, f.final_step, f.final_step = r.steps AS at_configured_end,
       f.score, f.success_rate, f.mean_return, f.n_episodes, labels.labels
FROM runs r
JOIN final f ON f.run_id = r.run_id
LEFT JOIN labels ON labels.run_id = r.run_id
ORDER BY r.run_id;

-- One row per (run, label) with the run's final score (NULL when it has no evaluation yet); labels include
-- K-sweep. The building block of the aggregates below.
CREATE VIEW labelled_runs AS
SELECT rl.label, r.run_id, r.method, r.task, r.suite, r.family, t.paper_family, r.seed, r.K, r.hparams_source,
       r.steps, r.batch_size, r.eval_episodes, r.data_route, r.success_timing, r.dataset_fingerprint, r.status, f.final_step, f.score
FROM runs r
JOIN run_labels rl ON rl.run_id = r.run_id
LEFT JOIN final_scores f ON f.run_id = r.run_id
LEFT JOIN tasks t ON t.name = r.task
ORDER BY rl.label, r.run_id;

-- The runs that count as results: one row per (run, label) for a method label (the `methods` table) or
-- K-sweep. The workflow's short timing runs (label 'runtime') are never results, whatever method labels
-- their configuration also gives them: they enter only the `runtime` view and the runtime figure.
-- table1_family: the family of the paper's Table 1 (tasks.paper_family), our family where the paper has none;
-- setting: the run's setting as one value (a struct of the six setting columns), what the views join on;
-- counted: the run enters the aggregates (finished or diverged); counted_score: the score it enters with.
CREATE VIEW result_runs AS
SELECT l.label, l.run_id, l.method, l.task, l.suite, l.family, l.paper_family,
       coalesce(l.paper_family, l.family) AS table1_family, l.seed, l.K, l.hparams_source, l.steps, l.batch_size,
       l.eval_episodes, l.data_route, l.success_timing, l.dataset_fingerprint, l.status, l.final_step, l.score,
       l.status IN ('finished', 'diverged') AS counted,
       CASE l.status WHEN 'finished' THEN l.score WHEN 'diverged' THEN 0.0 END AS counted_score,
       {'hparams_source': l.hparams_source, 'steps': l.steps, 'batch_size': l.batch_size,
        'eval_episodes': l.eval_episodes, 'data_route': l.data_route, 'success_timing': l.success_timing} AS setting
FROM labelled_runs l
WHERE (l.label IN (SELECT label FROM methods) OR l.label = 'K-sweep')
  AND l.run_id NOT IN (SELECT run_id FROM run_labels WHERE label = 'runtime')
ORDER BY l.label, l.run_id;

-- THE SELECTION RULE: which setting of a label every table, view and figure shows (defined here only).
-- A setting is (hparams_source, steps, batch_size, eval_episodes, data_route, success_timing); never averaged
-- together. For each grain -- 'task' (Table 4, learning curves, the K figures), 'family' (our families:
-- family_scores) and 'table1_family' (Table 1, the statistics, performance profiles) --, each name (the task
-- or the family) and label, the settings of its result runs are ranked and the first is shown:
--   1. a setting with counted (finished or diverged) runs before one whose runs were all interrupted or still run;
--   2. the most training steps;
--   3. the most tasks covered by counted runs, then the most tasks covered by every seed (families);
--   4. the most seeds with a counted run, then the most counted runs (a K sweep: seeds x K);
--   5. success_timing 'post' (the paper's) before 'pre', hparams_source 'table3' before 'script', then the
--      most evaluation episodes, then the largest batch;
--   6. data_route, then hparams_source, alphabetically (a deterministic last resort).
-- One row per (grain, name, label, setting) with its counts; shown = (setting_rank = 1). The tables list the
-- other settings in their notes.
CREATE VIEW settings AS
WITH grains AS (
    SELECT g.grain, CASE g.grain WHEN 'task' THEN r.task WHEN 'family' THEN r.family ELSE r.table1_family END AS name,
           r.*
    FROM result_runs r CROSS JOIN (VALUES ('task'), ('family'), ('table1_family')) g(grain)
), per_seed AS (
    SELECT grain, name, label, setting, seed, count(DISTINCT task) AS n_tasks
    FROM grains
    WHERE counted
    GROUP BY grain, name, label, setting, seed
), counted AS (
    SELECT g.grain, g.name, g.label, g.setting, any_value(g.hparams_source) AS hparams_source,
           any_value(g.steps) AS steps, any_value(g.batch_size) AS batch_size,
           any_value(g.eval_episodes) AS eval_episodes, any_value(g.data_route) AS data_route,
           any_value(g.success_timing) AS success_timing,
           count(DISTINCT g.seed) FILTER (WHERE g.counted) AS n_seeds,
           count(*) FILTER (WHERE g.counted) AS n_runs,
           count(DISTINCT g.task) FILTER (WHERE g.counted) AS n_tasks,
           coalesce(min(p.n_tasks), 0) AS n_tasks_min,
           count(*) FILTER (WHERE g.status = 'diverged') AS n_diverged,
           count(*) FILTER (WHERE NOT g.counted) AS n_unfinished
    FROM grains g
    LEFT JOIN per_seed p
        ON p.grain = g.grain AND p.name = g.name AND p.label = g.label AND p.setting IS NOT DISTINCT FROM g.setting
       AND p.seed = g.seed
    GROUP BY g.grain, g.name, g.label, g.setting
), ranked AS (
    SELECT *, row_number() OVER (
               PARTITION BY grain, name, label
               ORDER BY n_runs > 0 DESC, steps DESC NULLS LAST, n_tasks DESC, n_tasks_min DESC, n_seeds DESC,
                        n_runs DESC, coalesce(success_timing = 'post', false) DESC, coalesce(hparams_source = 'table3', false) DESC, eval_episodes DESC NULLS LAST,
                        batch_size DESC NULLS LAST, data_route ASC NULLS FIRST, hparams_source ASC NULLS FIRST
           ) AS setting_rank
    FROM counted
)
SELECT grain, name, label, hparams_source, steps, batch_size, eval_episodes, data_route, success_timing, n_seeds, n_runs, n_tasks,
       n_tasks_min, n_diverged, n_unfinished, setting_rank, setting_rank = 1 AS shown, setting
FROM ranked
ORDER BY grain, name, label, setting_rank;

-- Per task and method label: mean and std over seeds of the final scores, one row per setting; shown: the
-- setting the selection rule (`settings`) shows for the task; setting_rank: its rank there (1 = shown).
-- K: the K of the label's runs (NULL for a method without K; a label resolves to one K per task and
-- hparams_source), so DROL(16) and DROL rows of a task whose tuned K is 16 show as the same runs.
CREATE VIEW task_scores AS
SELECT r.task, r.label, r.suite, r.family, any_value(r.K) AS K, r.hparams_source, r.steps, r.batch_size, r.eval_episodes,
       r.data_route, r.success_timing,
       avg(r.counted_score) FILTER (WHERE r.counted) AS mean,
       stddev_samp(r.counted_score) FILTER (WHERE r.counted) AS std,
       count(DISTINCT r.seed) FILTER (WHERE r.counted) AS n_seeds,
       count(*) FILTER (WHERE r.status = 'diverged') AS n_diverged,
       list(r.seed ORDER BY r.seed) FILTER (WHERE r.counted) AS seeds,
       count(DISTINCT r.dataset_fingerprint) FILTER (WHERE r.counted) AS n_datasets,
       count(*) FILTER (WHERE NOT r.counted) AS n_unfinished,
       any_value(s.setting_rank) AS setting_rank, any_value(s.shown) AS shown
FROM result_runs r
JOIN settings s ON s.grain = 'task' AND s.name = r.task AND s.label = r.label AND s.setting IS NOT DISTINCT FROM r.setting
WHERE r.label IN (SELECT label FROM methods)
GROUP BY r.task, r.label, r.suite, r.family, r.hparams_source, r.steps, r.batch_size, r.eval_episodes, r.data_route, r.success_timing
ORDER BY r.task, r.label, r.hparams_source, r.steps, r.batch_size, r.eval_episodes, r.data_route, r.success_timing;

-- Per family (ours, as in `drol tasks`) and label: for each seed the mean over the family's tasks, then mean
-- and std over seeds. n_tasks_min/max: tasks a seed covers (fewest/most); family_tasks: tasks the family has.
-- shown: the setting the selection rule shows for the family.
CREATE VIEW family_scores AS
WITH per_seed AS (
    SELECT suite, family, label, setting, seed, avg(counted_score) AS score, count(DISTINCT task) AS n_tasks,
           count(*) FILTER (WHERE status = 'diverged') AS n_diverged
    FROM result_runs
    WHERE counted AND label IN (SELECT label FROM methods)
    GROUP BY suite, family, label, setting, seed
), sizes AS (
    SELECT family, count(*) AS family_tasks FROM tasks GROUP BY family
)
SELECT p.suite, p.family, p.label, s.hparams_source, s.steps, s.batch_size, s.eval_episodes, s.data_route, s.success_timing,
       avg(p.score) AS mean, stddev_samp(p.score) AS std, count(*) AS n_seeds, sum(p.n_diverged) AS n_diverged,
       min(p.n_tasks) AS n_tasks_min, max(p.n_tasks) AS n_tasks_max, any_value(z.family_tasks) AS family_tasks,
       any_value(s.setting_rank) AS setting_rank, any_value(s.shown) AS shown
FROM per_seed p
JOIN settings s ON s.grain = 'family' AND s.name = p.family AND s.label = p.label AND s.setting IS NOT DISTINCT FROM p.setting
LEFT JOIN sizes z ON z.family = p.family
GROUP BY p.suite, p.family, p.label, s.hparams_source, s.steps, s.batch_size, s.eval_episodes, s.data_route, s.success_timing
ORDER BY p.family, p.label, s.hparams_source, s.steps, s.batch_size, s.eval_episodes, s.data_route, s.success_timing;

-- Per family of the paper's Table 1 (tasks.paper_family maps our families onto the paper's:
-- antmaze-large-navigate -> antmaze-large-singletask, ..., d4rl-antmaze -> antmaze, the four d4rl-adroit-*
-- families -> adroit; our family where the paper has none, e.g. toy), method label and setting: per seed the
-- mean over the family's tasks, then mean and std over seeds (n_seeds 0, no mean: no run finished). tasks: the
-- tasks our finished runs cover; n_tasks_min/max: tasks a seed covers; family_tasks: tasks the family has.
-- shown: the setting the selection rule shows (Table 1, the statistics, performance profiles).
CREATE VIEW table1_scores AS
WITH per_seed AS (
    SELECT table1_family, label, setting, seed, avg(counted_score) AS score, count(DISTINCT task) AS n_tasks
    FROM result_runs
    WHERE counted
    GROUP BY table1_family, label, setting, seed
), ours AS (
    SELECT table1_family, label, setting, avg(score) AS mean, stddev_samp(score) AS std,
           min(n_tasks) AS n_tasks_min, max(n_tasks) AS n_tasks_max
    FROM per_seed
    GROUP BY table1_family, label, setting
), covered AS (
    SELECT table1_family, label, setting, list(DISTINCT task ORDER BY task) AS tasks
    FROM result_runs
    WHERE counted
    GROUP BY table1_family, label, setting
), sizes AS (
    SELECT coalesce(paper_family, family) AS table1_family, count(*) AS family_tasks FROM tasks GROUP BY ALL
)
SELECT s.name AS family, s.label, s.hparams_source, s.steps, s.batch_size, s.eval_episodes, s.data_route, s.success_timing,
       o.mean, o.std, s.n_seeds, o.n_tasks_min, o.n_tasks_max, coalesce(c.tasks, []) AS tasks, z.family_tasks,
       s.n_diverged, s.n_unfinished, s.setting_rank, s.shown
FROM settings s
LEFT JOIN ours o ON o.table1_family = s.name AND o.label = s.label AND o.setting IS NOT DISTINCT FROM s.setting
LEFT JOIN covered c ON c.table1_family = s.name AND c.label = s.label AND c.setting IS NOT DISTINCT FROM s.setting
LEFT JOIN sizes z ON z.table1_family = s.name
WHERE s.grain = 'table1_family' AND s.label IN (SELECT label FROM methods)
ORDER BY s.name, s.label, s.setting_rank;

-- The paper's Table 4 beside ours: every row of paper_scores (all 11 methods; ours NULL where we have no run
-- of that task and label) plus our rows the paper lacks (the toy task; methods the paper lacks). Ours is the
-- setting the selection rule shows: one row per task and label (the other settings are in task_scores); K:
-- the K of our runs (DROL(16) and DROL are the same runs, with equal numbers, where the task's tuned K is 16).
-- delta = ours - paper; n_diverged: diverged seeds in our mean (counted as 0); n_unfinished: runs of that
-- setting still running or interrupted (not averaged).
CREATE VIEW table4 AS
SELECT coalesce(p.task, o.task) AS task, t.suite, t.family,
       coalesce(p.representative, t.representative) AS representative,
       coalesce(p.label, o.label) AS label, o.K,
       o.hparams_source, o.steps, o.batch_size, o.eval_episodes, o.data_route, o.success_timing,
       o.mean AS ours_mean, o.std AS ours_std, o.n_seeds,
       p.mean AS paper_mean, p.std AS paper_std, p.mark AS paper_mark,
       o.mean - p.mean AS delta, o.n_diverged, o.n_unfinished
FROM paper_scores p
FULL OUTER JOIN (SELECT * FROM task_scores WHERE shown) o ON o.task = p.task AND o.label = p.label
LEFT JOIN tasks t ON t.name = coalesce(p.task, o.task)
LEFT JOIN methods m ON m.label = o.label
ORDER BY coalesce(t.ord, 1000000), coalesce(p.task, o.task), coalesce(p.ord, 1000000), m.ord,
         coalesce(p.label, o.label);

-- The paper's Table 1 beside ours, per Table 1 family (see table1_scores): every row of paper_family_scores
-- plus our families the paper lacks (the toy task); ours in the setting the selection rule shows (one row
-- per family and label). paper_n_tasks: tasks in the paper's family mean.
CREATE VIEW table1 AS
SELECT p.suite, coalesce(p.family, o.family) AS family, coalesce(p.label, o.label) AS label,
       o.hparams_source, o.steps, o.batch_size, o.eval_episodes, o.data_route, o.success_timing,
       o.mean AS ours_mean, o.std AS ours_std, o.n_seeds, o.n_diverged, o.n_tasks_min, o.n_tasks_max,
       p.n_tasks AS paper_n_tasks,
       p.mean AS paper_mean, p.std AS paper_std, p.mark AS paper_mark,
       o.mean - p.mean AS delta
FROM paper_family_scores p
FULL OUTER JOIN (SELECT * FROM table1_scores WHERE shown) o ON o.family = p.family AND o.label = p.label
LEFT JOIN methods m ON m.label = o.label
ORDER BY coalesce(p.ord, 1000000), coalesce(p.family, o.family), m.ord, coalesce(p.label, o.label);

-- K sensitivity: final scores of the counted (finished or diverged) K-sweep runs (a method's sweep label with K varied), per task,
-- setting and K; shown: the setting the selection rule shows for the task's sweep (the K figures draw it).
CREATE VIEW k_sensitivity AS
SELECT r.task, r.family, r.K, s.hparams_source, s.steps, s.batch_size, s.eval_episodes, s.data_route, s.success_timing,
       avg(r.counted_score) AS mean, stddev_samp(r.counted_score) AS std, count(DISTINCT r.seed) AS n_seeds,
       count(*) FILTER (WHERE r.status = 'diverged') AS n_diverged,
       list(r.seed ORDER BY r.seed) AS seeds, any_value(s.setting_rank) AS setting_rank, any_value(s.shown) AS shown
FROM result_runs r
JOIN settings s ON s.grain = 'task' AND s.name = r.task AND s.label = r.label AND s.setting IS NOT DISTINCT FROM r.setting
WHERE r.label = 'K-sweep' AND r.counted
GROUP BY r.task, r.family, r.K, s.hparams_source, s.steps, s.batch_size, s.eval_episodes, s.data_route, s.success_timing
ORDER BY r.task, s.hparams_source, s.steps, s.batch_size, s.eval_episodes, s.data_route, s.success_timing, r.K;

-- The result runs of the settings shown, what the figures draw: one row per (run, label) of result_runs whose
-- setting the selection rule shows for its task (for_task: Table 4, learning curves, the K figures) or for its
-- Table 1 family (for_table1: Table 1, the statistics, performance profiles).
CREATE VIEW shown_runs AS
SELECT r.*, coalesce(st.shown, false) AS for_task, coalesce(sf.shown, false) AS for_table1
FROM result_runs r
LEFT JOIN settings st
    ON st.grain = 'task' AND st.name = r.task AND st.label = r.label AND st.setting IS NOT DISTINCT FROM r.setting
LEFT JOIN settings sf
    ON sf.grain = 'table1_family' AND sf.name = r.table1_family AND sf.label = r.label
   AND sf.setting IS NOT DISTINCT FROM r.setting
WHERE coalesce(st.shown, false) OR coalesce(sf.shown, false)
ORDER BY r.label, r.run_id;

-- Runtime (the paper's Fig. 3 bottom): medians over the timed runs (timings.updates_timed > 0) of one method, K,
-- task, device, network and batch shape, training length (steps) and seed-block size (block_seeds: a block's
-- ms_per_update is one update of all its seeds); timing_runs: the rows of the workflow's timing runs (label
-- 'runtime'), never pooled with other runs. shown: the rows the runtime figure draws, the cases (method, K) of
-- one setup (timing_runs, task, device, networks, batch, steps) of one-seed runs, the first of:
--   1. the timing runs before other runs (a database without timing runs shows its other timed runs);
--   2. the largest networks (summed hidden units, the closest to the paper's 4 x 512);
--   3. the most cases, then the most runs; 4. the setup itself, in order (a deterministic last resort).
-- Timings of other setups are not comparable (another task, device or load): they are never drawn together.
CREATE VIEW runtime AS
WITH timed AS (
    SELECT r.method, r.K, r.task, t.device, r.actor_hidden_dims, r.value_hidden_dims, r.batch_size, r.steps,
           t.block_seeds, r.run_id IN (SELECT run_id FROM run_labels WHERE label = 'runtime') AS timing_runs,
           t.ms_per_update, t.ms_per_inference_step, t.eval_env_steps_per_s
    FROM timings t JOIN runs r ON r.run_id = t.run_id
    WHERE t.updates_timed > 0 AND t.ms_per_update IS NOT NULL
), cases AS (
    SELECT method, K, task, device, actor_hidden_dims, value_hidden_dims, batch_size, steps, block_seeds, timing_runs,
           median(ms_per_update) AS ms_per_update, median(ms_per_inference_step) AS ms_per_inference_step,
           median(eval_env_steps_per_s) AS eval_env_steps_per_s, count(*) AS n_runs,
           {'timing_runs': timing_runs, 'task': task, 'device': device, 'actor_hidden_dims': actor_hidden_dims,
            'value_hidden_dims': value_hidden_dims, 'batch_size': batch_size, 'steps': steps} AS setup
    FROM timed
    GROUP BY method, K, task, device, actor_hidden_dims, value_hidden_dims, batch_size, steps, block_seeds, timing_runs
), setups AS (
    SELECT setup, row_number() OVER (
               ORDER BY any_value(timing_runs) DESC,
                        any_value(coalesce(list_sum(actor_hidden_dims), 0) + coalesce(list_sum(value_hidden_dims), 0)) DESC,
                        count(*) DESC, sum(n_runs) DESC, setup
           ) AS setup_rank
    FROM cases
    WHERE block_seeds = 1
    GROUP BY setup
)
SELECT c.method, c.K, c.task, c.device, c.actor_hidden_dims, c.value_hidden_dims, c.batch_size, c.steps, c.block_seeds,
       c.timing_runs, c.ms_per_update, c.ms_per_inference_step, c.eval_env_steps_per_s, c.n_runs,
       coalesce(c.block_seeds = 1 AND s.setup_rank = 1, false) AS shown
FROM cases c
LEFT JOIN setups s ON s.setup IS NOT DISTINCT FROM c.setup
ORDER BY c.method, c.K, c.task, c.device, c.batch_size, c.steps, c.block_seeds, c.timing_runs;

-- Learning curves: per run, label (NULL for a run no label names) and evaluation step, the mean score. shown: the
-- run and label are of the setting the selection rule shows for the task (`shown_runs.for_task`): the learning
-- curves figure draws the finished ones of the method labels, the K figures those of K-sweep.
CREATE VIEW learning_curves AS
WITH curves AS (
    SELECT r.run_id, r.task, r.family, r.method, r.K, r.seed, rl.label, r.status, r.hparams_source, r.steps,
           r.batch_size, r.eval_episodes, r.data_route, r.success_timing, e.step,
           avg(e.score) AS score, 100 * avg(CAST(e.success AS DOUBLE)) AS success_rate, count(*) AS n_episodes
    FROM evaluations e
    JOIN runs r ON r.run_id = e.run_id
    LEFT JOIN run_labels rl ON rl.run_id = e.run_id
    GROUP BY r.run_id, r.task, r.family, r.method, r.K, r.seed, rl.label, r.status, r.hparams_source, r.steps,
             r.batch_size, r.eval_episodes, r.data_route, r.success_timing, e.step
)
SELECT c.*, coalesce(s.for_task, false) AS shown
FROM curves c
LEFT JOIN shown_runs s ON s.run_id = c.run_id AND s.label = c.label
ORDER BY c.run_id, c.label, c.step;
