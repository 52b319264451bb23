"""The reference's fixed initial networks (data files of the package), see
harness.training.initialisation.PAPER_NETWORKS."""
