"""Shared fixtures: the bundled rules, and value frames built from canonical values."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from qz_excel.intake import DTYPES
from qz_excel.rules import load_rules
from qz_excel.samples import GOOD
from qz_excel.values import parse_value

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def rules():
    return load_rules(2010)


def good_values(rules) -> dict:
    """A town that did everything right, in canonical (parsed) values."""
    return {code: parse_value(raw, rules.catalog[code].type).value for code, raw in GOOD.items()}


def frame(rules, towns: dict[str, dict]) -> pd.DataFrame:
    """Values frame: each town is GOOD with its overrides (None = empty cell)."""
    base = good_values(rules)
    rows = {town: {**base, **over} for town, over in towns.items()}
    return pd.DataFrame({code: pd.array([rows[t][code] for t in rows], dtype=DTYPES[ind.type])
                         for code, ind in rules.catalog.items()}, index=list(rows))
