"""Sweep builder: a form over the sweep spec, checked as you type by the harness's own
validation, with the run count and an estimated time; launch it or save it as TOML."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Button, Checkbox, Footer, Header, Input, Select, SelectionList, Static

from harness.data import DATASETS
from tui import harness_api
from tui.estimate import Check, summary_lines
from tui.screens.base import SparsestScreen
from tui.specform import (
    FormState,
    build_table,
    field_for_error,
    nnz_warning,
    parse_int_list,
    to_toml,
)
from tui.widgets.fields import Field

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

INPUTS = (
    ("name", "name"),
    ("search_max_width", "search widths 1..N"),
    ("search_lrs", "search learning rates"),
    ("widths", "prune widths"),
    ("nnz", "weight nnz targets"),
    ("lrs", "learning rates"),
    ("targets", "accuracy targets"),
    ("epochs", "epochs"),
    ("seeds", "seeds"),
    ("population", "models per population"),
)
PLACEHOLDERS = {"widths": "e.g. 3-8, 16", "nnz": "e.g. 15-26, 30", "targets": "e.g. 0.95, 0.995"}
DEFAULT_FORM = FormState(name="my-sweep", algorithms=["imp", "snip"])


class HarnessReady(Message):
    def __init__(self, info: harness_api.HarnessInfo) -> None:
        super().__init__()
        self.info = info


class PresetLoaded(Message):
    def __init__(self, table: dict[str, Any]) -> None:
        super().__init__()
        self.table = table


class Checked(Message):
    def __init__(self, check: Check) -> None:
        super().__init__()
        self.check = check


class BuilderScreen(SparsestScreen):
    TITLE = "Sweep builder"
    BINDINGS = [
        Binding("ctrl+r", "launch", "Launch", priority=True),
        Binding("ctrl+s", "save", "Save TOML", priority=True),
        Binding("ctrl+t", "calibrate", "Calibrate", priority=True),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.base: dict[str, Any] = {}
        self.generation = 0
        self.check: Check | None = None
        self.calibrated: float | None = None
        self._timer: Timer | None = None
        self._inputs = {name: Input(id=name, compact=True, placeholder=PLACEHOLDERS.get(name, "")) for name, _ in INPUTS}
        self._ready = False
        self._summaries: dict[str, str] = {}
        self._chosen = (DEFAULT_FORM.algorithms, DEFAULT_FORM.schedules)

    # -- layout --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        presets = [(name, name) for name in harness_api.preset_names()]
        with Container(id="builder-body"):
            with Vertical(id="builder-form"):
                yield Field("start from a preset", _select(presets, "preset", prompt="(none)"), field_id="preset")
                yield self._field("name")
                yield Field("dataset", _select(_choices(*DATASETS), "dataset"), field_id="dataset")
                yield Field(
                    "search phases",
                    Checkbox("phase 1", id="phase1", compact=True),
                    Checkbox("phase 2", id="phase2", compact=True),
                    field_id="phases",
                )
                yield self._field("search_max_width")
                yield self._field("search_lrs")
                yield Field("search init", _select(_choices("random", "fixed"), "search_init"), field_id="search_init")
                yield self._field("widths")
                yield self._field("nnz")
                yield Field("prune init", _select(_choices("random", "fixed"), "prune_init"), field_id="prune_init")
                yield Field("", Checkbox("prune the search's minimum", id="from_search", compact=True), field_id="from_search")
                yield self._field("lrs")
                yield Field("schedules", SelectionList[str](id="schedules", compact=True), field_id="schedules")
                yield self._field("epochs")
                yield self._field("seeds")
                yield self._field("population")
                yield self._field("targets")
                yield Field("device", _select(_choices("auto", "cpu", "cuda"), "device"), field_id="device")
            with Vertical(id="builder-side"):
                yield Field(
                    "algorithms (space toggles)",
                    SelectionList[str](id="algorithms", compact=True),
                    Static("", id="algorithm-help", markup=False),
                    field_id="algorithms",
                    stacked=True,
                )
                yield Field("save as", Input(placeholder="SPEC.toml", id="save-path", compact=True), field_id="save-path")
                with Horizontal(id="builder-buttons"):
                    yield Button("Launch ^r", id="launch", variant="primary", compact=True)
                    yield Button("Save ^s", id="save", compact=True)
                    yield Button("Calibrate ^t", id="calibrate", compact=True)
        yield Static("", id="builder-summary", markup=False)
        yield Footer()  # fmt: skip

    def _field(self, name: str) -> Field:
        return Field(dict(INPUTS)[name], self._inputs[name], field_id=name)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#builder-summary", Static).update("loading the harness…")
        self._apply(DEFAULT_FORM)
        self._load_harness()

    @work(thread=True, group="harness", name="harness", exit_on_error=False)
    def _load_harness(self) -> None:
        self.post_message(HarnessReady(harness_api.load_info()))

    @on(HarnessReady)
    def _harness_ready(self, message: HarnessReady) -> None:
        info = message.info
        state = self.read_form()
        with self.prevent(SelectionList.SelectedChanged):
            schedules: SelectionList[str] = self.query_one("#schedules", SelectionList)
            schedules.clear_options()
            schedules.add_options([(s, s, s in state.schedules) for s in info.schedules])
            algorithms: SelectionList[str] = self.query_one("#algorithms", SelectionList)
            algorithms.clear_options()
            names = list(info.algorithms) + [a for a in state.algorithms if a not in info.algorithms]
            algorithms.add_options(
                [(f"{n} — {info.algorithms.get(n, '')}", n, n in state.algorithms) for n in names]
            )
        self.query_one("#field-algorithms", Field).set_error(info.error, warning=True)
        self._summaries = dict(info.algorithms)
        if names:
            self._show_help(names[0])
        self._ready = True
        self._schedule_check()

    # -- reading and filling the form ----------------------------------------------------

    def read_form(self) -> FormState:
        values = {name: widget.value for name, widget in self._inputs.items()}

        def chosen(selector: str, default: str) -> str:
            value = self.query_one(selector, Select).value
            return default if value is Select.NULL else str(value)

        state = FormState(base=self.base, **values)
        state.dataset = chosen("#dataset", "cubist-spiral")
        state.search_init = chosen("#search_init", "random")
        state.prune_init = chosen("#prune_init", "random")
        state.device = chosen("#device", "auto")
        state.phase1 = self.query_one("#phase1", Checkbox).value
        state.phase2 = self.query_one("#phase2", Checkbox).value
        state.from_search = self.query_one("#from_search", Checkbox).value
        if self._ready:
            state.algorithms = list(self.query_one("#algorithms", SelectionList).selected)
            state.schedules = list(self.query_one("#schedules", SelectionList).selected)
        else:
            state.algorithms, state.schedules = (list(c) for c in self._chosen)
        return state

    def _apply(self, state: FormState) -> None:
        """Show `state` in the widgets (without a check per widget; one follows)."""
        self.base = state.base
        self._chosen = (list(state.algorithms), list(state.schedules))
        with self.prevent(Input.Changed, Checkbox.Changed, Select.Changed, SelectionList.SelectedChanged):
            for name, widget in self._inputs.items():
                widget.value = str(getattr(state, name))
            dataset: Select[str] = self.query_one("#dataset", Select)
            if state.dataset in DATASETS:
                dataset.value = state.dataset
            self.query_one("#search_init", Select).value = state.search_init
            self.query_one("#prune_init", Select).value = state.prune_init
            self.query_one("#device", Select).value = state.device
            self.query_one("#phase1", Checkbox).value = state.phase1
            self.query_one("#phase2", Checkbox).value = state.phase2
            self.query_one("#from_search", Checkbox).value = state.from_search
            for selector, chosen in (("#algorithms", state.algorithms), ("#schedules", state.schedules)):
                selection: SelectionList[str] = self.query_one(selector, SelectionList)
                selection.deselect_all()
                for value in chosen:
                    if any(selection.get_option_at_index(i).value == value for i in range(selection.option_count)):
                        selection.select(value)
        self._schedule_check()  # fmt: skip

    @on(SelectionList.SelectionHighlighted, "#algorithms")
    def _algorithm_help(self, event: SelectionList.SelectionHighlighted[str]) -> None:
        self._show_help(str(event.selection.value))

    def _show_help(self, name: str) -> None:
        summary = self._summaries.get(name, "")
        self.query_one("#algorithm-help", Static).update(f"{name}: {summary}")

    @on(Select.Changed, "#preset")
    def _preset(self, event: Select.Changed) -> None:
        if event.value is not Select.NULL:
            self._load_preset(str(event.value))

    @work(thread=True, exclusive=True, group="preset", name="preset", exit_on_error=False)
    def _load_preset(self, name: str) -> None:
        self.post_message(PresetLoaded(tomllib.loads(harness_api.preset_text(name))))

    @on(PresetLoaded)
    def _preset_loaded(self, message: PresetLoaded) -> None:
        self._apply(FormState.from_table(message.table))

    # -- checking ------------------------------------------------------------------------

    @on(Input.Changed)
    @on(Checkbox.Changed)
    @on(SelectionList.SelectedChanged)
    def _changed(self, event: Input.Changed | Checkbox.Changed | SelectionList.SelectedChanged[str]) -> None:
        if event.control is None or event.control.id != "save-path":
            self._schedule_check()

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        if event.select.id != "preset":
            self._schedule_check()

    def _schedule_check(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self.generation += 1
        self._timer = self.set_timer(0.15, self._start_check)

    def _start_check(self) -> None:
        state = self.read_form()
        table, errors = build_table(state)
        self._check_spec(self.generation, state, table, errors)

    @work(thread=True, exclusive=True, group="check", name="spec check", exit_on_error=False)
    def _check_spec(self, generation: int, state: FormState, table: dict[str, Any], errors: dict[str, str]) -> None:
        from harness.errors import UserError

        check = Check(generation, table, dict(errors))
        if not errors:
            check.toml = to_toml(table)
            try:
                check.plan = harness_api.plan(harness_api.parse_spec(check.toml))
            except UserError as error:
                field, reason = field_for_error(str(error))
                if field is None:
                    check.spec_error = reason
                else:
                    check.errors[field] = reason
        try:
            check.warning = nnz_warning(parse_int_list(state.widths), parse_int_list(state.nnz))
        except ValueError:
            check.warning = None
        if state.from_search or not state.algorithms:
            check.warning = None
        check.throughput = self._throughput(state.dataset)
        self.post_message(Checked(check))  # fmt: skip

    def _throughput(self, dataset: str) -> tuple[float, str]:
        config = self.sparsest.config
        if config.throughput is not None:
            return config.throughput, "configured"
        if self.calibrated is not None:
            return self.calibrated, "calibrated"
        measured = harness_api.measured_throughput(self.sparsest.store, dataset)
        if measured is not None:
            return measured[0], f"median of {measured[1]:,} stored runs"
        return harness_api.DEFAULT_MODEL_EPOCHS_PER_S, "default figure; ctrl+t measures"

    @on(Checked)
    def _checked(self, message: Checked) -> None:
        check = message.check
        if check.generation != self.generation:
            return
        self.check = check
        for field in self.query(Field):
            if field.field_id == "nnz" and "nnz" not in check.errors and check.warning:
                field.set_error(check.warning, warning=True)
            elif field.field_id not in ("algorithms", "save-path") or field.field_id in check.errors:
                field.set_error(check.errors.get(field.field_id))
        self.query_one("#builder-summary", Static).update("\n".join(summary_lines(check)))

    # -- actions -------------------------------------------------------------------------

    def _valid_check(self) -> Check | None:
        check = self.check
        if check is None or check.generation != self.generation or not check.valid:
            self.notify("the spec is not valid yet: fix the fields marked in red", severity="warning")
            invalid = [f for f in self.query(Field) if f.has_class("-invalid")]
            if invalid:
                invalid[0].scroll_visible()
            return None
        return check

    def action_launch(self) -> None:
        check = self._valid_check()
        if check is None:
            return
        sweep = self.sparsest.launch_sweep(str(check.table["name"]), check.toml)
        self.notify(f"sweep {sweep.name} launched ({sweep.spec_path.name})")
        self.app.switch_mode("runs")

    def action_save(self) -> None:
        check = self._valid_check()
        if check is None:
            return
        field = self.query_one("#field-save-path", Field)
        path = Path(self.query_one("#save-path", Input).value.strip() or f"{check.table['name']}.toml")
        try:
            path.write_text(check.toml)
        except OSError as error:
            field.set_error(f"cannot write {path}: {error.strerror}")
            return
        field.set_error(None)
        self.notify(f"spec saved to {path} (run it with: sparsest run {path})")

    def action_calibrate(self) -> None:
        state = self.read_form()
        self.query_one("#builder-summary", Static).update("calibrating: timing a few training steps…")
        population = int(state.population) if state.population.strip().isdigit() else 512
        self._calibrate(state.dataset, state.device, population)

    @work(thread=True, exclusive=True, group="calibrate", name="calibration", exit_on_error=False)
    def _calibrate(self, dataset: str, device: str, population: int) -> None:
        self.calibrated = harness_api.calibrate(dataset, device, population)
        self.app.call_from_thread(self._schedule_check)

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        {"launch": self.action_launch, "save": self.action_save, "calibrate": self.action_calibrate}[
            str(event.button.id)
        ]()


def _select(options: list[tuple[str, str]], id: str, prompt: str | None = None) -> Select[str]:
    if prompt is None:
        return Select(options, allow_blank=False, id=id, compact=True)
    return Select(options, prompt=prompt, id=id, compact=True)


def _choices(*values: str) -> list[tuple[str, str]]:
    return [(v, v) for v in values]
