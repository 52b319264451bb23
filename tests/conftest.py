"""Tests run two xdist workers on two cores: one torch thread each keeps them from
oversubscribing the CPU."""

import torch

torch.set_num_threads(1)
