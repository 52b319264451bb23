"""Engines run the inner training loop of a population; the trainer drives them."""
