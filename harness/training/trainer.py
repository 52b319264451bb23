"""The training loop: epochs of engine steps, with callbacks at the steps they ask for.

No I/O here. The loop is plain: for each epoch compute every model's data order and
learning rate, then run the engine in chunks between callback events.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np
import torch

from algorithms.base import Session, StepCallback
from harness.training.data_order import epoch_orders
from harness.training.datasets import Dataset
from harness.training.engines.base import Engine, SGDConfig, TrainState
from harness.training.schedules import epoch_learning_rates

ProgressFn = Callable[[int, int], None]


def train(
    state: TrainState,
    data: Dataset,
    config: SGDConfig,
    engine: Engine,
    callbacks: Sequence[StepCallback] = (),
    session: Session | None = None,
    epoch_offset: int = 0,
    progress: ProgressFn | None = None,
) -> None:
    """Train `state` in place for `config.epochs` epochs.

    `epoch_offset` shifts the data-order epochs, so a second training of the same models
    (a rewound lottery ticket, a fine-tune) sees fresh orders. `progress(done, total)`
    is called after every epoch with counts of steps.
    """
    population = state.population
    steps_per_epoch = config.steps_per_epoch(data.points)
    total_steps = steps_per_epoch * config.epochs
    events: dict[int, list[StepCallback]] = defaultdict(list)
    for callback in callbacks:
        for step in callback.event_steps(total_steps, steps_per_epoch):
            events[int(step)].append(callback)
    event_steps = np.array(sorted(events), dtype=np.int64)

    seeds = population.data_seed.numpy()
    if config.shared_order:
        seeds = seeds[:1]
    base_lr = population.lr.numpy()
    schedules = population.schedule.numpy()
    engine.import_state(state)
    make_orders = getattr(engine, "epoch_orders", epoch_orders)  # a buffer, or on a device
    run_epoch = getattr(engine, "run_epoch", None)  # an engine may fuse orders and steps
    for epoch in range(config.epochs):
        lrs = epoch_learning_rates(base_lr, schedules, epoch, config.epochs)
        first, last = epoch * steps_per_epoch, (epoch + 1) * steps_per_epoch
        uninterrupted = not np.any((event_steps >= first) & (event_steps < last))
        if run_epoch is not None and uninterrupted and not config.shared_order:
            run_epoch(seeds, epoch_offset + epoch, data.points, lrs)
            if progress is not None:
                progress(last, total_steps)
            continue
        orders = make_orders(seeds, epoch_offset + epoch, data.points)
        if config.shared_order and isinstance(orders, torch.Tensor):  # made on a device
            orders = orders.expand(population.size, data.points)
        elif config.shared_order:
            orders = np.broadcast_to(orders, (population.size, data.points))
        step = 0
        while step < steps_per_epoch:
            global_step = epoch * steps_per_epoch + step
            if global_step in events:
                state.step, state.epoch = global_step, epoch
                engine.export_state(state)
                for callback in events[global_step]:
                    callback.on_event(state, session)  # type: ignore[arg-type]
                engine.import_state(state)
            later = event_steps[event_steps > global_step]
            stop = (
                min(steps_per_epoch, int(later[0]) - epoch * steps_per_epoch)
                if len(later)
                else steps_per_epoch
            )
            engine.run_steps(orders, step, stop - step, lrs)
            step = stop
        if progress is not None:
            progress((epoch + 1) * steps_per_epoch, total_steps)
    state.step, state.epoch = total_steps, config.epochs
    engine.export_state(state)
