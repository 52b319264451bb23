"""The README's worked example of adding an algorithm runs as written."""

import re
from pathlib import Path

import torch

from harness.training.datasets import load_dataset
from harness.training.engines.base import SGDConfig
from harness.training.population import Population
from harness.training.session import TrainingSession

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_algorithm_example_keeps_exact_budgets() -> None:
    code = re.search(r"```python\n(# algorithms/largest_init.py.*?)```", README.read_text(), re.S)
    assert code is not None
    namespace: dict = {}
    exec(compile(code.group(1), "README example", "exec"), namespace)
    algorithm = namespace["LargestInit"](namespace["LargestInitParams"]())
    population = Population.initialize((2, 4, 4, 1), [0, 1, 2], [0.1] * 3, ["cosine"] * 3)
    session = TrainingSession(population, load_dataset("xor"), SGDConfig(epochs=1), engine="torch")
    algorithm.run(session, torch.tensor([5, 9, 20]))
    assert population.weight_nnz().tolist() == [5, 9, 20]
    for w, mask in zip(population.weights, population.weight_masks):
        assert (w[~mask] == 0).all()
