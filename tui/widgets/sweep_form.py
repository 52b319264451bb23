"""Builder region: the sweep form (every spec field) and the algorithm list beside it.

`SweepForm.read()` gives the form as a FormState, `SweepForm.show(state)` fills it;
neither checks anything (the builder screen does, on the changes they cause).
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Container, Horizontal, Vertical
from textual.widgets import Button, Checkbox, Input, Select, SelectionList, Static

from harness.training.datasets import DATASETS
from tui.harness_api import HarnessInfo
from tui.specform import FormState
from tui.widgets.fields import Field

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
    ("address", "ray address"),
)
LABELS = {
    **dict(INPUTS),
    **{name: name for name in ("schedules", "algorithms", "dataset", "device", "executor")},
    **{"phases": "search phases", "search_init": "search init", "prune_init": "prune init"},
}
"""Field -> what the form calls it (for messages)."""
PLACEHOLDERS = {
    "widths": "e.g. 3-8, 16",
    "nnz": "e.g. 15-26, 30",
    "targets": "e.g. 0.95, 0.995",
    "address": "HOST:PORT (empty: this machine)",
}


def _select(options: list[tuple[str, str]], id: str, prompt: str | None = None) -> Select[str]:
    if prompt is None:
        return Select(options, allow_blank=False, id=id, compact=True)
    return Select(options, prompt=prompt, id=id, compact=True)


def _choices(*values: str) -> list[tuple[str, str]]:
    return [(v, v) for v in values]


class SweepForm(Container):
    """The form (left) and the algorithms, save path and buttons (right; below it on a
    narrow terminal). Algorithms and schedules are offered once the harness is loaded
    (`offer`); until then the form remembers the chosen ones."""

    def __init__(self, presets: list[str], chosen: FormState) -> None:
        super().__init__(id="builder-body")
        self.presets = presets
        self.base: dict[str, Any] = {}
        self.ready = False
        self.summaries: dict[str, str] = {}
        self._chosen = (list(chosen.algorithms), list(chosen.schedules))
        self._inputs = {
            name: Input(id=name, compact=True, placeholder=PLACEHOLDERS.get(name, ""))
            for name, _ in INPUTS
        }

    def _field(self, name: str) -> Field:
        return Field(dict(INPUTS)[name], self._inputs[name], field_id=name)

    def compose(self) -> ComposeResult:
        presets = [(name, name) for name in self.presets]
        with Vertical(id="builder-form"):
            yield Field(
                "start from a preset",
                _select(presets, "preset", prompt="(none)"),
                field_id="preset",
            )
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
            yield Field(
                "search init",
                _select(_choices("random", "random-own-width", "fixed"), "search_init"),
                field_id="search_init",
            )
            yield self._field("widths")
            yield self._field("nnz")
            yield Field(
                "prune init",
                _select(_choices("random", "fixed"), "prune_init"),
                field_id="prune_init",
            )
            yield Field(
                "",
                Checkbox("prune the search's minimum", id="from_search", compact=True),
                field_id="from_search",
            )
            yield self._field("lrs")
            yield Field(
                "schedules",
                SelectionList[str](id="schedules", compact=True),
                field_id="schedules",
            )
            yield self._field("epochs")
            yield self._field("seeds")
            yield self._field("population")
            yield self._field("targets")
            yield Field(
                "device", _select(_choices("auto", "cpu", "cuda"), "device"), field_id="device"
            )
            yield Field(
                "executor", _select(_choices("local", "ray"), "executor"), field_id="executor"
            )
            yield self._field("address")
        with Vertical(id="builder-side"):
            yield Field(
                "algorithms (space toggles)",
                SelectionList[str](id="algorithms", compact=True),
                Static("", id="algorithm-help", markup=False),
                field_id="algorithms",
                stacked=True,
            )
            yield Field(
                "save as",
                Input(placeholder="SPEC.toml", id="save-path", compact=True),
                field_id="save-path",
            )
            with Horizontal(id="builder-buttons"):
                yield Button("Launch ^r", id="launch", variant="primary", compact=True)
                yield Button("Save ^s", id="save", compact=True)
                yield Button("Calibrate ^t", id="calibrate", compact=True)

    def read(self) -> FormState:
        values = {name: widget.value for name, widget in self._inputs.items()}

        def chosen(selector: str, default: str) -> str:
            value = self.query_one(selector, Select).value
            return default if value is Select.NULL else str(value)

        state = FormState(base=self.base, **values)
        state.dataset = chosen("#dataset", "cubist-spiral")
        state.search_init = chosen("#search_init", "random")
        state.prune_init = chosen("#prune_init", "random")
        state.device = chosen("#device", "auto")
        state.executor = chosen("#executor", "local")
        state.phase1 = self.query_one("#phase1", Checkbox).value
        state.phase2 = self.query_one("#phase2", Checkbox).value
        state.from_search = self.query_one("#from_search", Checkbox).value
        if self.ready:
            state.algorithms = list(self.query_one("#algorithms", SelectionList).selected)
            state.schedules = list(self.query_one("#schedules", SelectionList).selected)
        else:
            state.algorithms, state.schedules = (list(c) for c in self._chosen)
        return state

    def show(self, state: FormState) -> None:
        """Show `state` in the widgets, quietly (no Changed message per widget)."""
        self.base = state.base
        self._chosen = (list(state.algorithms), list(state.schedules))
        with self.prevent(
            Input.Changed, Checkbox.Changed, Select.Changed, SelectionList.SelectedChanged
        ):
            for name, widget in self._inputs.items():
                widget.value = str(getattr(state, name))
            dataset: Select[str] = self.query_one("#dataset", Select)
            if state.dataset in DATASETS:
                dataset.value = state.dataset
            self.query_one("#search_init", Select).value = state.search_init
            self.query_one("#prune_init", Select).value = state.prune_init
            self.query_one("#device", Select).value = state.device
            self.query_one("#executor", Select).value = state.executor
            self.query_one("#phase1", Checkbox).value = state.phase1
            self.query_one("#phase2", Checkbox).value = state.phase2
            self.query_one("#from_search", Checkbox).value = state.from_search
            for selector, chosen in (
                ("#algorithms", state.algorithms),
                ("#schedules", state.schedules),
            ):
                selection: SelectionList[str] = self.query_one(selector, SelectionList)
                selection.deselect_all()
                for value in chosen:
                    if any(
                        selection.get_option_at_index(i).value == value
                        for i in range(selection.option_count)
                    ):
                        selection.select(value)

    def offer(self, info: HarnessInfo) -> list[str]:
        """Offer the harness's schedules and algorithms (keeping the chosen ones chosen);
        returns the algorithm names in order."""
        state = self.read()
        with self.prevent(SelectionList.SelectedChanged):
            schedules: SelectionList[str] = self.query_one("#schedules", SelectionList)
            schedules.clear_options()
            schedules.add_options([(s, s, s in state.schedules) for s in info.schedules])
            algorithms: SelectionList[str] = self.query_one("#algorithms", SelectionList)
            algorithms.clear_options()
            names = list(info.algorithms) + [
                a for a in state.algorithms if a not in info.algorithms
            ]
            algorithms.add_options(
                [(f"{n} — {info.algorithms.get(n, '')}", n, n in state.algorithms) for n in names]
            )
        self.query_one("#field-algorithms", Field).set_error(info.error, warning=True)
        self.summaries = dict(info.algorithms)
        self.ready = True
        return names
