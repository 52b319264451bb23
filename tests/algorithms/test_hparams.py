"""`key=value` hyper-parameters validated against the dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from algorithms.base import HyperParameters
from algorithms.hparams import HyperParameterError, describe, non_default, parse_hparams
from algorithms.imp import GradualMagnitudeParams
from algorithms.lth import LotteryTicketParams
from algorithms.random_mask import RandomParams
from algorithms.rigl import RigLParams


@dataclass(frozen=True)
class Example(HyperParameters):
    steps: int = field(default=3, metadata={"help": "How many."})
    rate: float = field(default=0.5, metadata={"help": "How fast."})
    fast: bool = field(default=False, metadata={"help": "Whether."})
    mode: str = field(default="a", metadata={"help": "Which."})
    limit: int | None = field(default=None, metadata={"help": "Cap."})


def test_parses_every_supported_type() -> None:
    params = parse_hparams(Example, ["steps=7", "rate=1e-2", "fast=yes", "mode= b ", "limit=4"])
    assert params == Example(steps=7, rate=0.01, fast=True, mode="b", limit=4)
    assert parse_hparams(Example, ["limit=none"]).limit is None
    assert parse_hparams(Example, []) == Example()


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(HyperParameterError, match="valid: steps, rate, fast, mode, limit"):
        parse_hparams(Example, ["stpes=3"])
    with pytest.raises(HyperParameterError, match="valid: none"):
        parse_hparams(RandomParams, ["anything=1"])


@pytest.mark.parametrize(
    "item, message",
    [
        ("steps=2.5", "cannot read '2.5' as int"),
        ("rate=fast", "cannot read 'fast' as float"),
        ("fast=maybe", "cannot read 'maybe' as bool"),
        ("limit=none-ish", r"cannot read 'none-ish' as int \| None"),
        ("steps", "expected key=value"),
        ("=3", "expected key=value"),
    ],
)
def test_bad_values_name_the_field_and_type(item: str, message: str) -> None:
    with pytest.raises(HyperParameterError, match=message):
        parse_hparams(Example, [item])


def test_dataclass_validation_becomes_a_hyper_parameter_error() -> None:
    with pytest.raises(HyperParameterError, match="drop_fraction"):
        parse_hparams(RigLParams, ["drop_fraction=1.5"])
    with pytest.raises(HyperParameterError, match="rounds"):
        parse_hparams(LotteryTicketParams, ["rounds=0"])


def test_describe_and_non_default() -> None:
    assert describe(Example)[0] == ("steps", "int", 3, "How many.")
    assert describe(Example)[4] == ("limit", "int | None", None, "Cap.")
    assert [row[0] for row in describe(GradualMagnitudeParams)] == ["pruning_events", "exponent"]
    assert all(row[3] for row in describe(RigLParams))
    assert non_default(Example(steps=3, rate=0.1)) == {"rate": 0.1}
