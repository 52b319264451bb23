"""One module per group of `sparsest` commands; each exposes `register(app)`."""
