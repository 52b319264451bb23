"""Sweep builder: a form over the sweep spec, checked as you type by the harness's own
validation, with the run count and an estimated time; launch it or save it as TOML."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Button, Checkbox, Footer, Header, Input, Select, SelectionList, Static

from harness.errors import SpecError, UserError
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
from tui.widgets.sweep_form import LABELS, SweepForm

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

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
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "launch", "Launch", priority=True),
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("ctrl+t", "calibrate", "Calibrate", priority=True),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.generation = 0
        self.check: Check | None = None
        self.calibrated: float | None = None
        self._timer: Timer | None = None

    # -- layout --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        yield SweepForm(harness_api.preset_names(), DEFAULT_FORM)
        yield Static("", id="builder-summary", markup=False)
        yield Footer(compact=True, show_command_palette=False)

    @property
    def form(self) -> SweepForm:
        return self.query_one(SweepForm)

    def read_form(self) -> FormState:
        return self.form.read()

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
        names = self.form.offer(message.info)
        if names:
            self._show_help(names[0])
        self._schedule_check()

    def _apply(self, state: FormState) -> None:
        self.form.show(state)
        self._schedule_check()

    @on(SelectionList.SelectionHighlighted, "#algorithms")
    def _algorithm_help(self, event: SelectionList.SelectionHighlighted[str]) -> None:
        self._show_help(str(event.selection.value))

    def _show_help(self, name: str) -> None:
        summary = self.form.summaries.get(name, "")
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
    def _changed(
        self, event: Input.Changed | Checkbox.Changed | SelectionList.SelectedChanged[str]
    ) -> None:
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
    def _check_spec(
        self, generation: int, state: FormState, table: dict[str, Any], errors: dict[str, str]
    ) -> None:
        check = Check(generation, table, dict(errors))
        if not errors:
            check.toml = to_toml(table)
            try:
                check.plan = harness_api.plan(
                    harness_api.parse_spec(check.toml), self.sparsest.store
                )
            except SpecError as error:
                field, reason = field_for_error(error)
                if field is None:
                    check.spec_error = reason
                else:
                    check.errors[field] = reason
            except UserError as error:
                check.spec_error = str(error)
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
            elif (
                field.field_id not in ("algorithms", "save-path") or field.field_id in check.errors
            ):
                field.set_error(check.errors.get(field.field_id))
        self.query_one("#builder-summary", Static).update("\n".join(summary_lines(check, LABELS)))

    # -- actions -------------------------------------------------------------------------

    def _valid_check(self) -> Check | None:
        check = self.check
        if check is None or check.generation != self.generation or not check.valid:
            self.notify(
                "the spec is not valid yet: fix the fields marked in red", severity="warning"
            )
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
        path = Path(
            self.query_one("#save-path", Input).value.strip() or f"{check.table['name']}.toml"
        )
        try:
            path.write_text(check.toml)
        except OSError as error:
            field.set_error(f"cannot write {path}: {error.strerror}")
            return
        field.set_error(None)
        self.notify(f"spec saved to {path} (run it with: sparsest run {path})")

    def action_calibrate(self) -> None:
        state = self.read_form()
        self.query_one("#builder-summary", Static).update(
            "calibrating: timing a few training steps…"
        )
        population = int(state.population) if state.population.strip().isdigit() else 512
        self._calibrate(state.dataset, state.device, population)

    @work(thread=True, exclusive=True, group="calibrate", name="calibration", exit_on_error=False)
    def _calibrate(self, dataset: str, device: str, population: int) -> None:
        self.calibrated = harness_api.calibrate(dataset, device, population)
        self.app.call_from_thread(self._schedule_check)

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        {
            "launch": self.action_launch,
            "save": self.action_save,
            "calibrate": self.action_calibrate,
        }[str(event.button.id)]()
