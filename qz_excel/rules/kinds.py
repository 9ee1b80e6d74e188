"""The registry of sub-rule kinds.

Each kind is a pydantic model (its parameters, validated when a rules file loads) with a
label and one vectorised ``evaluate`` over the whole values frame (the protocol is
:class:`~qz_excel.rules.base.RuleBase`). A new kind is a class in one of the ``kinds_*``
modules, listed here once; the engine, the checker and `qz rules kinds` find it here.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from qz_excel.rules.base import (
    MICRO,
    MISSING_DEDUCTION_TEMPLATE,
    MISSING_TEMPLATE,
    MISSING_VETO_TEMPLATE,
    Evaluation,
    RuleBase,
    micro,
)
from qz_excel.rules.kinds_judged import Assessed, Veto
from qz_excel.rules.kinds_met import AllMet, AnyOf, AtLeast, Bands, Flag, Graded
from qz_excel.rules.kinds_steps import ExcessOverTarget, PerUnit, Proportional, RatioSteps, ShortfallSteps

KINDS = (
    Flag,
    AtLeast,
    AllMet,
    AnyOf,
    Graded,
    Bands,
    PerUnit,
    ShortfallSteps,
    RatioSteps,
    Proportional,
    ExcessOverTarget,
    Veto,
    Assessed,
)

SubRule = Annotated[
    Flag
    | AtLeast
    | AllMet
    | AnyOf
    | Graded
    | Bands
    | PerUnit
    | ShortfallSteps
    | RatioSteps
    | Proportional
    | ExcessOverTarget
    | Veto
    | Assessed,
    Field(discriminator="kind"),
]

#: kind name → model class; `qz rules kinds` prints this with each label
REGISTRY: dict[str, type[RuleBase]] = {
    cls.model_fields["kind"].annotation.__args__[0]: cls  # type: ignore[union-attr]
    for cls in KINDS
}

__all__ = [
    "REGISTRY",
    "SubRule",
    "Evaluation",
    "MICRO",
    "micro",
    "MISSING_TEMPLATE",
    "MISSING_VETO_TEMPLATE",
    "MISSING_DEDUCTION_TEMPLATE",
]
