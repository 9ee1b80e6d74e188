"""Shared fixtures: the bundled rules, and value frames built from canonical values."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from qz_excel.common.files import TEMP_PREFIX
from qz_excel.intake.read import DTYPES
from qz_excel.rules.ruleset import load_rules
from qz_excel.rules.values import parse_value
from qz_excel.template.samples import GOOD
from qz_excel.template.writer import TemplateOptions, write_template

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
    return pd.DataFrame(
        {code: pd.array([rows[t][code] for t in rows], dtype=DTYPES[ind.type]) for code, ind in rules.catalog.items()},
        index=list(rows),
    )


@pytest.fixture(scope="session")
def big_inbox(tmp_path_factory, rules):
    """120 returned workbooks: above the threshold where qz score uses worker processes."""
    tmp = tmp_path_factory.mktemp("big")
    towns = [f"测试镇{k:03d}" for k in range(120)]
    for k, town in enumerate(towns):
        values = {**GOOD, "r1_meetings": k % 4, "r10_info_reports": k % 7, "r6_food_pass_rate": 0.9 + k % 10 / 100}
        write_template(
            rules, town, tmp / "inbox" / f"{town}.xlsx", TemplateOptions(generated_at="2010-12-01"), prefill=values
        )
    towns_csv = tmp / "towns.csv"
    towns_csv.write_text("单位名称\n" + "\n".join(towns) + "\n", encoding="utf-8")
    return tmp / "inbox", towns_csv, towns


def result_digests(folder: Path) -> dict[str, str]:
    """Every result file under ``folder`` (relative path → sha256). Neither the run lock nor
    a killed run's staging folder (a temporary name, which the next run removes) is a result."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not any(part.startswith(TEMP_PREFIX) for part in p.relative_to(folder).parts)
    }


@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd) on loopback that keeps what it receives: (handler, port)."""
    import socket

    from aiosmtpd.controller import Controller

    class Recorder:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append((list(envelope.rcpt_tos), envelope.content))
            return "250 Message accepted"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    handler = Recorder()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, controller.port
    controller.stop()
