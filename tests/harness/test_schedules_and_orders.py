import numpy as np
import pytest
import torch

from harness.training.data_order import epoch_orders
from harness.training.reference import make_scheduler
from harness.training.schedules import lr_factor


@pytest.mark.parametrize("schedule", ["cosine", "multistep", "constant"])
@pytest.mark.parametrize("epochs", [10, 50])
def test_closed_form_schedules_match_torch(schedule: str, epochs: int) -> None:
    param = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=0.1)
    scheduler = make_scheduler(optimizer, schedule, epochs)
    for epoch in range(epochs):
        assert optimizer.param_groups[0]["lr"] == pytest.approx(
            0.1 * lr_factor(schedule, epoch, epochs), abs=1e-12
        )
        optimizer.step()
        scheduler.step()


def test_orders_are_permutations_and_depend_only_on_seed_and_epoch() -> None:
    orders = epoch_orders(np.array([4, 5, 6]), 2, 1000)
    assert (np.sort(orders, axis=1) == np.arange(1000)).all()
    alone = epoch_orders(np.array([5]), 2, 1000)
    assert np.array_equal(alone[0], orders[1])
    assert not np.array_equal(orders[0], orders[1])
    assert not np.array_equal(epoch_orders(np.array([5]), 3, 1000)[0], alone[0])


def test_orders_look_uniform() -> None:
    # Position of element 0 over many seeds: roughly uniform over 10 slots.
    orders = epoch_orders(np.arange(20_000), 0, 10)
    counts = np.bincount(np.argmax(orders == 0, axis=1), minlength=10)
    assert counts.min() > 1_800 and counts.max() < 2_200
