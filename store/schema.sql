-- Sparsest results store, schema version 1 (store/db.py SCHEMA_VERSION).
-- Applied once, in one transaction, when a store is first opened for writing.
-- Macro parameters are substituted for unqualified column names, so every column
-- reference inside a macro is qualified with its table alias.

CREATE TABLE meta (
    key VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);

CREATE SEQUENCE sweep_id_seq START 1;

CREATE TABLE sweeps (
    id INTEGER PRIMARY KEY DEFAULT nextval('sweep_id_seq'),
    name VARCHAR NOT NULL,
    spec JSON NOT NULL,
    created TIMESTAMP NOT NULL,  -- UTC
    status VARCHAR NOT NULL  -- store/db.py SWEEP_STATUSES; owner in meta 'sweep:<id>:owner'
);

-- One row per trained model; the columns are store/records.py RunRecord's fields
-- (less mask and weights, kept in `masks`) plus finished_at.
CREATE TABLE runs (
    run_key VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,  -- search-phase1 | search-phase2 | prune
    algorithm VARCHAR NOT NULL,  -- dense (phase 1), mask (phase 2) or a pruning algorithm
    dataset VARCHAR NOT NULL,
    widths INTEGER[] NOT NULL,  -- hidden widths (d1, d2, d3)
    init_mode VARCHAR NOT NULL,  -- random | fixed
    seed BIGINT NOT NULL,
    lr DOUBLE NOT NULL,
    schedule VARCHAR NOT NULL,
    epochs INTEGER NOT NULL,
    target_weight_nnz INTEGER,  -- the pruning target; NULL for the search
    weight_nnz INTEGER NOT NULL,
    model_nnz INTEGER NOT NULL,
    effective_nnz INTEGER NOT NULL,
    dead_neurons INTEGER[] NOT NULL,  -- per hidden layer
    accuracy DOUBLE NOT NULL,  -- fraction in [0, 1]; NaN when diverged
    final_loss DOUBLE NOT NULL,
    diverged BOOLEAN NOT NULL,
    device VARCHAR NOT NULL,
    wall_seconds DOUBLE NOT NULL,
    sweep_id INTEGER,  -- the sweep that first wrote the run
    hparams JSON NOT NULL,
    finished_at TIMESTAMP NOT NULL  -- UTC, when its batch was committed
);

-- Written only for runs newly inserted into `runs`, so one row per run key; no index,
-- which keeps batch commits short (the key column alone is scanned for a lookup).
CREATE TABLE masks (
    run_key VARCHAR NOT NULL,
    mask BLOB,  -- numpy packbits of every weight's 0/1, layer by layer, row-major
    weights BLOB  -- float32 weights and biases (widths <= 16 only)
);

-- The accuracy targets the views report on; extend with ResultsStore.add_targets.
CREATE TABLE targets (
    target DOUBLE PRIMARY KEY CHECK (target > 0 AND target <= 1)
);
INSERT INTO targets VALUES (0.95), (0.995);

-- For each dataset and accuracy target: the fewest weights of any search network
-- (phase 1 or 2, not diverged) that reaches the target; NULL where none does.
-- targets: a DOUBLE[] list, or NULL for the rows of `targets`.
CREATE MACRO frontier_at(targets := NULL) AS TABLE
WITH tg AS (
    SELECT DISTINCT unnest(coalesce(targets, (SELECT list(t.target) FROM targets t))) AS target
),
search AS (
    SELECT * FROM runs r
    WHERE r.kind IN ('search-phase1', 'search-phase2')
      AND NOT r.diverged AND isfinite(r.accuracy)
),
ds AS (SELECT DISTINCT s.dataset AS name FROM search s),
best AS (
    SELECT s.dataset AS ds, g.target AS tgt, s.weight_nnz, s.model_nnz, s.effective_nnz,
           s.accuracy, s.widths, s.kind, s.run_key,
           count(*) OVER (PARTITION BY s.dataset, g.target) AS reached
    FROM search s JOIN tg g ON s.accuracy >= g.target
    QUALIFY row_number() OVER (
        PARTITION BY s.dataset, g.target ORDER BY s.weight_nnz, s.accuracy DESC, s.run_key
    ) = 1
)
SELECT d.name AS dataset, g.target, b.weight_nnz, b.model_nnz, b.effective_nnz, b.accuracy,
       b.widths, b.kind, b.run_key, coalesce(b.reached, 0) AS reached
FROM ds d CROSS JOIN tg g
LEFT JOIN best b ON b.ds = d.name AND b.tgt = g.target
ORDER BY d.name, g.target;

-- Per pruning algorithm, dataset and target: the fewest weights of any run reaching the
-- target (NULL if none), the frontier's, their ratio, and the winning run. best_accuracy
-- is the winning run's accuracy, or the best any run reached when none reached the target.
-- Filters (NULL: all): width (every hidden layer that wide), init_mode, dataset.
CREATE MACRO leaderboard_at(targets := NULL, width := NULL, init_mode := NULL, dataset := NULL)
AS TABLE
WITH tg AS (
    SELECT DISTINCT unnest(coalesce(targets, (SELECT list(t.target) FROM targets t))) AS target
),
pruned AS (
    SELECT * FROM runs r
    WHERE r.kind = 'prune'
      AND (width IS NULL OR (list_min(r.widths) = width AND list_max(r.widths) = width))
      AND (init_mode IS NULL OR r.init_mode = init_mode)
      AND (dataset IS NULL OR r.dataset = dataset)
),
totals AS (
    SELECT p.dataset AS ds, p.algorithm AS alg, count(*) AS runs,
           max(p.accuracy) FILTER (WHERE NOT p.diverged AND isfinite(p.accuracy)) AS max_accuracy
    FROM pruned p
    GROUP BY p.dataset, p.algorithm
),
best AS (
    SELECT p.dataset AS ds, p.algorithm AS alg, g.target AS tgt, p.weight_nnz, p.accuracy,
           p.effective_nnz, p.run_key,
           count(*) OVER (PARTITION BY p.dataset, p.algorithm, g.target) AS reached
    FROM pruned p JOIN tg g ON p.accuracy >= g.target
    WHERE NOT p.diverged AND isfinite(p.accuracy)
    QUALIFY row_number() OVER (
        PARTITION BY p.dataset, p.algorithm, g.target
        ORDER BY p.weight_nnz, p.accuracy DESC, p.run_key
    ) = 1
)
SELECT t.alg AS algorithm, g.target, b.weight_nnz, f.weight_nnz AS frontier_weight_nnz,
       b.weight_nnz / f.weight_nnz AS gap_ratio,
       coalesce(b.accuracy, t.max_accuracy) AS best_accuracy, b.effective_nnz, b.run_key,
       coalesce(b.reached, 0) AS reached, t.runs, t.ds AS dataset
FROM totals t CROSS JOIN tg g
LEFT JOIN best b ON b.ds = t.ds AND b.alg = t.alg AND b.tgt = g.target
LEFT JOIN frontier_at(targets := targets) f ON f.dataset = t.ds AND f.target = g.target
ORDER BY t.ds, g.target, b.weight_nnz NULLS LAST, best_accuracy DESC NULLS LAST, t.alg;

-- Best accuracy at each weight nnz, per curve: each pruning algorithm, and 'search' for
-- the search's phases 1 and 2 together. on_front: better than every smaller nnz of its
-- curve (the Pareto front). Filters apply to pruning runs only.
CREATE MACRO pareto_at(width := NULL, init_mode := NULL, dataset := NULL) AS TABLE
WITH chosen AS (
    SELECT CASE WHEN r.kind = 'prune' THEN r.algorithm ELSE 'search' END AS curve,
           r.dataset AS ds, r.weight_nnz, r.accuracy, r.diverged
    FROM runs r
    WHERE (dataset IS NULL OR r.dataset = dataset)
      AND (r.kind <> 'prune' OR (
          (width IS NULL OR (list_min(r.widths) = width AND list_max(r.widths) = width))
          AND (init_mode IS NULL OR r.init_mode = init_mode)))
),
points AS (
    SELECT c.curve, c.ds, c.weight_nnz, count(*) AS runs,
           max(c.accuracy) FILTER (WHERE NOT c.diverged AND isfinite(c.accuracy)) AS best_accuracy
    FROM chosen c
    GROUP BY c.curve, c.ds, c.weight_nnz
)
SELECT p.curve AS algorithm, p.weight_nnz, p.best_accuracy, p.runs,
       coalesce(p.best_accuracy > coalesce(max(p.best_accuracy) OVER (
           PARTITION BY p.ds, p.curve ORDER BY p.weight_nnz
           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), -1), false) AS on_front,
       p.ds AS dataset
FROM points p
ORDER BY p.ds, p.curve, p.weight_nnz;

CREATE VIEW frontier AS SELECT * FROM frontier_at();
CREATE VIEW leaderboard AS SELECT * FROM leaderboard_at();
CREATE VIEW pareto AS SELECT * FROM pareto_at();

-- Phase 1: per dataset and target, the dense structure with the fewest parameters
-- (model nnz) that reaches the target; phase 2 searches its masks.
CREATE VIEW minimal_structure AS
SELECT r.dataset, t.target, r.widths, r.model_nnz, r.weight_nnz, r.accuracy, r.run_key
FROM runs r JOIN targets t ON r.accuracy >= t.target
WHERE r.kind = 'search-phase1' AND NOT r.diverged AND isfinite(r.accuracy)
QUALIFY row_number() OVER (
    PARTITION BY r.dataset, t.target ORDER BY r.model_nnz, r.accuracy DESC, r.run_key
) = 1
ORDER BY r.dataset, t.target;

INSERT INTO meta VALUES ('schema_version', '1');
