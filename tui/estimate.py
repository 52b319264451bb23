"""The builder's verdict on a form: errors per field, the runs it expands into, and how
long they should take. Plain data and text, so it is tested without an app."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tui.harness_api import SpecPlan


@dataclass
class Check:
    """One check of the form. generation: which edit it answers (older ones are dropped);
    errors: field -> reason; spec_error: a harness error no field owns; throughput:
    (model-epochs per second, where that figure comes from)."""

    generation: int
    table: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)
    spec_error: str | None = None
    warning: str | None = None
    plan: SpecPlan | None = None
    toml: str = ""
    throughput: tuple[float, str] | None = None

    @property
    def valid(self) -> bool:
        return not self.errors and self.spec_error is None and self.plan is not None


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def summary_lines(check: Check, labels: Mapping[str, str] | None = None) -> list[str]:
    """Two lines: the size and time of the sweep, then whether it can be launched.
    labels: field -> what the form calls it."""
    labels = labels or {}
    if check.plan is None:
        size = "runs: —"
    else:
        plan = check.plan
        size = f"runs: {plan.runs:,}"
        if plan.stored:
            size += f" ({plan.stored:,} stored, skipped)"
        if plan.phase2_pending:
            size += " + those that follow phase 1"
        if plan.projected_s is not None:
            size += f" · projected {duration(plan.projected_s)} on this machine (calibrated)"
        elif check.throughput is not None and plan.model_epochs:
            rate, source = check.throughput
            size += (
                f" · about {duration(plan.model_epochs / rate)} "
                f"at {rate:,.{0 if rate >= 100 else 1}f} model-epochs/s ({source})"
            )
    if check.errors:
        count = len(check.errors)
        state = f"✗ {count} field{'s' if count > 1 else ''} to fix: " + ", ".join(
            labels.get(f, f) for f in check.errors
        )
    elif check.spec_error:
        state = f"✗ {check.spec_error}"
    elif check.plan is None:
        state = "checking…"
    else:
        state = "✓ valid · ctrl+r launches it in the background · ctrl+s saves it as TOML"
    return [size, state]
