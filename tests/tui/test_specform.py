"""The builder's form rules, without an app: lists and ranges, the spec table, errors."""

from __future__ import annotations

import json

import pytest
import tomllib

from harness.errors import SpecError
from harness.sweeps.spec_file import parse_spec, preset_text
from tui.estimate import Check, summary_lines
from tui.harness_api import SpecPlan
from tui.specform import (
    FieldError,
    FormState,
    build_table,
    field_for_error,
    format_ints,
    nnz_warning,
    parse_float_list,
    parse_int_list,
    stored_spec_toml,
    to_toml,
)


def test_lists_and_ranges() -> None:
    assert parse_int_list("15-18, 30 33") == [15, 16, 17, 18, 30, 33]
    assert parse_int_list("3,3,4") == [3, 4]
    assert format_ints([15, 16, 17, 18, 30, 31]) == "15-18, 30, 31"
    assert parse_float_list("0.05, 0.1") == [0.05, 0.1]
    for bad, reason in (
        ("3, x", "'x' is not a whole number"),
        ("26-15", "runs backwards"),
        ("", "at least one"),
    ):
        with pytest.raises(FieldError, match=reason):
            parse_int_list(bad)
    with pytest.raises(FieldError, match="'a' is not a number"):
        parse_float_list("0.1, a")


@pytest.mark.parametrize("preset", ["paper-overparam", "paper-fixed-init", "quick"])
def test_a_preset_round_trips_through_the_form(preset: str) -> None:
    text = preset_text(preset)
    table, errors = build_table(FormState.from_table(tomllib.loads(text)))
    assert errors == {}
    assert parse_spec(to_toml(table)) == parse_spec(text)


def test_form_errors_name_their_field() -> None:
    state = FormState(algorithms=["imp"], widths="3, x", epochs="many", name="a b")
    _, errors = build_table(state)
    assert set(errors) == {"widths", "epochs", "name"}
    _, errors = build_table(FormState())
    assert errors == {"phases": "choose a search phase or at least one algorithm"}


def test_harness_errors_map_back_to_fields() -> None:
    assert field_for_error(SpecError("prune.nnz", 12, "every target must be at least 1")) == (
        "nnz",
        "every target must be at least 1",
    )
    assert field_for_error(SpecError("epochs", None, "must be at least 1")) == (
        "epochs",
        "must be at least 1",
    )
    # a key the form has no field for: no field, and the reason names the key
    assert field_for_error(SpecError("foo", 2, "unknown key; valid keys: name")) == (
        None,
        "foo: unknown key; valid keys: name",
    )
    assert field_for_error(SpecError("", 3, "malformed TOML: bad")) == (None, "malformed TOML: bad")


def test_the_key_comes_from_the_error_not_its_message() -> None:
    """The message may say anything (another source, another wording): only `key` counts."""
    error = SpecError("search.max_width", 4, "unknown key 'epochs'", source="builder")
    assert field_for_error(error) == ("search_max_width", "unknown key 'epochs'")


@pytest.mark.parametrize(
    ("toml", "field"),
    [
        ('name = "s"\nepochs = 0\n[prune]\nalgorithms = ["imp"]\n', "epochs"),
        ('name = "s"\n[prune]\nalgorithms = ["imp"]\nnnz = [0]\n', "nnz"),
        ('name = "s"\n[search]\nmax_width = 0\n', "search_max_width"),
        ('name = "s"\ntargets = [1.5]\n[prune]\nalgorithms = ["imp"]\n', "targets"),
        ('name = "s"\nepochs = "x"\n[prune]\nalgorithms = ["imp"]\n', "epochs"),
    ],
)
def test_real_harness_errors_name_a_form_field(toml: str, field: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(toml)
    assert field_for_error(caught.value)[0] == field


def test_unknown_keys_and_malformed_toml_belong_to_no_field() -> None:
    for toml, reason in (("bogus = 1\n", "bogus: unknown key"), ("name = \n", "malformed TOML")):
        with pytest.raises(SpecError) as caught:
            parse_spec(toml)
        field, text = field_for_error(caught.value)
        assert field is None and text.startswith(reason), text


def test_targets_no_width_can_take_are_named() -> None:
    assert nnz_warning([3], [15, 26, 30]) == (
        "skipped (no width takes them; widest has 27 weights): 30"
    )
    assert nnz_warning([3, 8], [15, 30]) is None


def test_a_stored_spec_becomes_runnable_toml() -> None:
    stored = json.dumps({"name": "s", "epochs": 5, "search": {"phase1": True, "structure": None}})
    spec = parse_spec(stored_spec_toml(stored))
    assert spec.epochs == 5 and spec.search is not None and spec.search.structure is None


def test_summary_lines() -> None:
    check = Check(1, {}, plan=SpecPlan(1200, 60_000.0, True, "cubist-spiral", "cpu"))
    check.throughput = (2000.0, "configured")
    size, state = summary_lines(check)
    assert size == (
        "runs: 1,200 + those that follow phase 1 · about 30 s at 2,000 model-epochs/s (configured)"
    )
    assert state.startswith("✓ valid")
    check.errors = {"nnz": "bad"}
    assert (
        summary_lines(check, {"nnz": "weight nnz targets"})[1]
        == "✗ 1 field to fix: weight nnz targets"
    )


def test_the_summary_shows_the_calibrated_projection_when_there_is_one() -> None:
    plan = SpecPlan(1200, 60_000.0, False, "cubist-spiral", "cpu", projected_s=5400.0)
    lines = summary_lines(Check(1, {}, plan=plan, throughput=(500.0, "measured")))
    assert "projected 1.5 h on this machine (calibrated)" in lines[0]
    assert "model-epochs/s" not in lines[0]


def test_the_plan_counts_what_the_store_holds(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The builder's size line says how many of the spec's runs the store already holds
    (a launch skips them) and costs only the rest."""
    from harness.sweeps.driver import SweepDriver
    from store.db import ResultsStore
    from tui import harness_api

    text = (
        "name = 's'\ndataset = 'xor'\nepochs = 1\nlrs = [0.1, 0.2]\nschedules = ['cosine']\n"
        "[prune]\nalgorithms = ['random']\nwidths = [3]\nnnz = [10, 20]\n"
    )
    store = ResultsStore(tmp_path / "s.duckdb")
    empty = harness_api.plan(parse_spec(text), store)
    assert (empty.runs, empty.stored) == (4, 0) and empty.model_epochs > 0
    SweepDriver(parse_spec(text.replace("[0.1, 0.2]", "[0.1]")), store).run()  # 2 of the 4
    half = harness_api.plan(parse_spec(text), store)
    assert (half.runs, half.stored, half.model_epochs) == (4, 2, empty.model_epochs / 2)
    size = summary_lines(Check(1, {}, plan=half, throughput=(2000.0, "configured")))[0]
    assert size.startswith("runs: 4 (2 stored, skipped) · about")


def test_the_executor_and_address_reach_the_spec() -> None:
    state = FormState(algorithms=["snip"], executor="ray", address=" head:6379 ")
    table, errors = build_table(state)
    assert errors == {}
    spec = parse_spec(to_toml(table))
    assert (spec.executor, spec.address) == ("ray", "head:6379")
    assert FormState.from_table(table).executor == "ray"
    local, _ = build_table(FormState(algorithms=["snip"]))
    assert "executor" not in local and "address" not in local  # the default stays implicit
    with pytest.raises(SpecError) as caught:
        parse_spec(to_toml(build_table(FormState(algorithms=["snip"], address="h:1"))[0]))
    assert field_for_error(caught.value)[0] == "address"


def test_the_builder_lists_algorithms_in_one_order_whatever_was_looked_up_before(
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    """A test that used synflow+repair earlier in the same process once moved it up the
    builder's list (the registry listed compositions in lookup order; the builder
    snapshots failed in CI that way). The builder's order is every base algorithm, then
    each one's repair, in the registry's base order."""
    from algorithms.registry import ALGORITHMS
    from algorithms.repair import SUFFIX
    from tui import harness_api

    assert ALGORITHMS["synflow" + SUFFIX] is not None  # looked up first, as a test would
    monkeypatch.setattr(harness_api, "_info", None)
    try:
        names = list(harness_api.load_info().algorithms)
    finally:  # forget the composition, as tests/algorithms/test_repair.py does
        ALGORITHMS.reload()
    base = [n for n in names if not n.endswith(SUFFIX)]
    assert names == base + [n + SUFFIX for n in base]
    assert base[:3] == ["imp", "lth", "snip"]
