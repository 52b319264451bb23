-- Sparsest results store, schema version 2: the views keep studies apart.
-- A store can hold several initialisation studies (the random-init search and pruning,
-- fixed-init studies from different networks); each is compared only with itself.
-- `init_study` names a run's study:
--   random            the search's fresh 16-wide network cut to the structure (the
--                     paper's reference convention), and pruning from width w
--   random-own-width  the search drawing each structure at its own widths (also every
--                     search row written before this convention: no init_width)
--   fixed:NAME        cut from one fixed network: paper-95, paper-995, sha256:... (a
--                     file), or 'seeded' (a seeded network per seed)
-- A random-init pruning run is compared with the `random` search, or with the
-- `random-own-width` search when the store has no other.

CREATE OR REPLACE MACRO init_study(kind, init_mode, hparams) AS
    CASE
        WHEN init_mode = 'fixed' THEN
            'fixed:' || coalesce(json_extract_string(hparams, '$.fixed_network'), 'seeded')
        WHEN init_mode = 'random' AND kind <> 'prune'
             AND json_extract_string(hparams, '$.init_width') IS NULL THEN 'random-own-width'
        ELSE init_mode
    END;

CREATE OR REPLACE MACRO frontier_at(targets := NULL) AS TABLE
WITH tg AS (
    SELECT DISTINCT unnest(coalesce(targets, (SELECT list(t.target) FROM targets t))) AS target
),
search AS (
    SELECT r.*, init_study(r.kind, r.init_mode, r.hparams) AS study FROM runs r
    WHERE r.kind IN ('search-phase1', 'search-phase2')
      AND NOT r.diverged AND isfinite(r.accuracy)
),
ds AS (SELECT DISTINCT s.dataset AS name, s.study FROM search s),
best AS (
    SELECT s.dataset AS ds, s.study AS st, g.target AS tgt, s.weight_nnz, s.model_nnz,
           s.effective_nnz, s.accuracy, s.widths, s.kind, s.run_key,
           count(*) OVER (PARTITION BY s.dataset, s.study, g.target) AS reached
    FROM search s JOIN tg g ON s.accuracy >= g.target
    QUALIFY row_number() OVER (
        PARTITION BY s.dataset, s.study, g.target
        ORDER BY s.weight_nnz, s.accuracy DESC, s.run_key
    ) = 1
)
SELECT d.name AS dataset, g.target, b.weight_nnz, b.model_nnz, b.effective_nnz, b.accuracy,
       b.widths, b.kind, b.run_key, coalesce(b.reached, 0) AS reached, d.study AS init
FROM ds d CROSS JOIN tg g
LEFT JOIN best b ON b.ds = d.name AND b.st = d.study AND b.tgt = g.target
ORDER BY d.name, d.study, g.target;

CREATE OR REPLACE MACRO leaderboard_at(
    targets := NULL, width := NULL, init_mode := NULL, dataset := NULL
) AS TABLE
WITH tg AS (
    SELECT DISTINCT unnest(coalesce(targets, (SELECT list(t.target) FROM targets t))) AS target
),
pruned AS (
    SELECT r.*, init_study(r.kind, r.init_mode, r.hparams) AS study FROM runs r
    WHERE r.kind = 'prune'
      AND (width IS NULL OR (list_min(r.widths) = width AND list_max(r.widths) = width))
      AND (init_mode IS NULL OR r.init_mode = init_mode)
      AND (dataset IS NULL OR r.dataset = dataset)
),
totals AS (
    SELECT p.dataset AS ds, p.study AS st, p.algorithm AS alg, count(*) AS runs,
           max(p.accuracy) FILTER (WHERE NOT p.diverged AND isfinite(p.accuracy)) AS max_accuracy
    FROM pruned p
    GROUP BY p.dataset, p.study, p.algorithm
),
best AS (
    SELECT p.dataset AS ds, p.study AS st, p.algorithm AS alg, g.target AS tgt, p.weight_nnz,
           p.accuracy, p.effective_nnz, p.run_key,
           count(*) OVER (PARTITION BY p.dataset, p.study, p.algorithm, g.target) AS reached
    FROM pruned p JOIN tg g ON p.accuracy >= g.target
    WHERE NOT p.diverged AND isfinite(p.accuracy)
    QUALIFY row_number() OVER (
        PARTITION BY p.dataset, p.study, p.algorithm, g.target
        ORDER BY p.weight_nnz, p.accuracy DESC, p.run_key
    ) = 1
),
fr AS (SELECT * FROM frontier_at(targets := targets))
SELECT t.alg AS algorithm, g.target, b.weight_nnz,
       coalesce(f.weight_nnz, own.weight_nnz) AS frontier_weight_nnz,
       b.weight_nnz / coalesce(f.weight_nnz, own.weight_nnz) AS gap_ratio,
       coalesce(b.accuracy, t.max_accuracy) AS best_accuracy, b.effective_nnz, b.run_key,
       coalesce(b.reached, 0) AS reached, t.runs, t.ds AS dataset, t.st AS init
FROM totals t CROSS JOIN tg g
LEFT JOIN best b ON b.ds = t.ds AND b.st = t.st AND b.alg = t.alg AND b.tgt = g.target
LEFT JOIN fr f ON f.dataset = t.ds AND f.init = t.st AND f.target = g.target
LEFT JOIN fr own ON t.st = 'random' AND own.dataset = t.ds AND own.init = 'random-own-width'
    AND own.target = g.target
    AND NOT EXISTS (SELECT 1 FROM fr x WHERE x.dataset = t.ds AND x.init = 'random')
ORDER BY t.ds, t.st, g.target, b.weight_nnz NULLS LAST, best_accuracy DESC NULLS LAST, t.alg;

CREATE OR REPLACE MACRO pareto_at(width := NULL, init_mode := NULL, dataset := NULL) AS TABLE
WITH chosen AS (
    SELECT CASE WHEN r.kind = 'prune' THEN r.algorithm ELSE 'search' END AS curve,
           r.dataset AS ds, init_study(r.kind, r.init_mode, r.hparams) AS study,
           r.weight_nnz, r.accuracy, r.diverged
    FROM runs r
    WHERE (dataset IS NULL OR r.dataset = dataset)
      AND (r.kind <> 'prune' OR (
          (width IS NULL OR (list_min(r.widths) = width AND list_max(r.widths) = width))
          AND (init_mode IS NULL OR r.init_mode = init_mode)))
),
points AS (
    SELECT c.curve, c.ds, c.study, c.weight_nnz, count(*) AS runs,
           max(c.accuracy) FILTER (WHERE NOT c.diverged AND isfinite(c.accuracy)) AS best_accuracy
    FROM chosen c
    GROUP BY c.curve, c.ds, c.study, c.weight_nnz
)
SELECT p.curve AS algorithm, p.weight_nnz, p.best_accuracy, p.runs,
       coalesce(p.best_accuracy > coalesce(max(p.best_accuracy) OVER (
           PARTITION BY p.ds, p.study, p.curve ORDER BY p.weight_nnz
           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), -1), false) AS on_front,
       p.ds AS dataset, p.study AS init
FROM points p
ORDER BY p.ds, p.study, p.curve, p.weight_nnz;

CREATE OR REPLACE VIEW frontier AS SELECT * FROM frontier_at();
CREATE OR REPLACE VIEW leaderboard AS SELECT * FROM leaderboard_at();
CREATE OR REPLACE VIEW pareto AS SELECT * FROM pareto_at();

-- Phase 1: per dataset, study and target, the dense structure with the fewest parameters
-- (model nnz) that reaches the target; phase 2 searches its masks.
CREATE OR REPLACE VIEW minimal_structure AS
SELECT r.dataset, t.target, r.widths, r.model_nnz, r.weight_nnz, r.accuracy, r.run_key,
       init_study(r.kind, r.init_mode, r.hparams) AS init
FROM runs r JOIN targets t ON r.accuracy >= t.target
WHERE r.kind = 'search-phase1' AND NOT r.diverged AND isfinite(r.accuracy)
QUALIFY row_number() OVER (
    PARTITION BY r.dataset, init_study(r.kind, r.init_mode, r.hparams), t.target
    ORDER BY r.model_nnz, r.accuracy DESC, r.run_key
) = 1
ORDER BY r.dataset, init, t.target;

UPDATE meta SET value = '2' WHERE key = 'schema_version';
