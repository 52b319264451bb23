"""The results store: one DuckDB file of runs, masks and sweeps, and the queries over it.

Needs only duckdb and numpy. Import from the modules (store.db, store.queries,
store.records, store.masks); this package file stays empty so that importing
store.records does not load duckdb.
"""
