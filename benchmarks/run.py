"""Benchmarks, each reported as a ratio against a baseline measured in the same run.

    python benchmarks/run.py                 # defaults: 10,000 towns scored, 200 templates
    python benchmarks/run.py --score-towns 20 --templates 5 --repeat 1   # smoke

Phases:
- score: the engine on N synthetic towns vs. the floor (one vectorised pass touching every
  value once) and vs. a naive per-town loop (scoring one town at a time, measured on a
  subset and scaled linearly).
- template: `qz template` for N towns vs. a bare XlsxWriter script writing the same cells
  with no validation, protection, formats or metadata.
Medians of --repeat runs; the machine is noisy.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xlsxwriter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qz_excel.intake import DTYPES  # noqa: E402
from qz_excel.rules import load_rules  # noqa: E402
from qz_excel.scoring import score  # noqa: E402
from qz_excel.template import TemplateOptions, write_templates  # noqa: E402
from qz_excel.values import NOT_APPLICABLE  # noqa: E402


def synthetic_values(rules, n: int, seed: int = 7) -> pd.DataFrame:
    """N towns with realistic spreads: mostly 是, small counts, rates near the targets,
    a few empty cells and 不适用 rates."""
    rng = np.random.default_rng(seed)
    data = {}
    for code, ind in rules.catalog.items():
        empty = rng.random(n) < 0.01
        if ind.type == "bool":
            col = pd.array(rng.random(n) < 0.85, dtype="boolean")
        elif ind.type == "count":
            col = pd.array(rng.poisson(2.0, n), dtype="Int64")
        else:
            rates = np.round(100 - rng.exponential(3.0, n), 1).clip(0, 100)
            rates[rng.random(n) < 0.05] = NOT_APPLICABLE
            col = pd.array(rates, dtype="Float64")
        col[empty] = pd.NA
        data[code] = col
    return pd.DataFrame(data, index=[f"单位{i:05d}" for i in range(n)]).astype(
        {c: DTYPES[i.type] for c, i in rules.catalog.items()})


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_score(rules, n: int, repeat: int) -> list[tuple[str, float, str]]:
    values = synthetic_values(rules, n)
    engine = timed(lambda: score(rules, values), repeat)

    def floor():  # touch every value once, vectorised
        for code in values.columns:
            values[code].to_numpy(dtype=float, na_value=np.nan).sum()
    floor_t = timed(floor, repeat)

    subset = values.iloc[: min(n, 200)]

    def naive():
        for town in subset.index:
            score(rules, subset.loc[[town]])
    naive_t = timed(naive, 1) * n / len(subset)
    return [("score: engine", engine, f"{n} towns"),
            ("score: floor (touch every value)", floor_t, f"engine/floor = {engine / floor_t:.1f}×"),
            ("score: naive per-town loop (scaled)", naive_t, f"naive/engine = {naive_t / engine:.0f}×")]


def bare_templates(rules, towns: list[str], out: Path) -> None:
    """The same cells, nothing else: the floor of putting the content in a file."""
    for k, town in enumerate(towns):
        wb = xlsxwriter.Workbook(str(out / f"bare{k}.xlsx"), {"in_memory": True})
        ws = wb.add_worksheet("填报表")
        ws.write_string(0, 0, rules.spec.form_title)
        ws.write_string(1, 2, town)
        row = 5
        for item in rules.items:
            ws.write_string(row, 0, item.name)
            row += 1
            for ind in item.indicators:
                ws.write_row(row, 0, [f"{item.number}", ind.id, item.name, ind.label, "", ind.unit, ind.help])
                row += 1
        wb.close()


def bare_same_workbook(rules, towns: list[str], out: Path) -> None:
    """The same workbook as `qz template` (cells, formats, validations, protection, print
    settings, instructions and metadata sheets) written straight, with no planning, no
    templating, no atomic replace: the floor for what the template contains."""
    cell_fmt = {"border": 1, "text_wrap": True, "font_size": 10}
    input_fmt = {"border": 1, "locked": False, "bg_color": "#FFF2CC"}
    for k, town in enumerate(towns):
        wb = xlsxwriter.Workbook(str(out / f"same{k}.xlsx"), {"in_memory": True})
        fixed, value = wb.add_format(cell_fmt), wb.add_format(input_fmt)
        percent = wb.add_format({**input_fmt, "num_format": "0.0%"})
        ws = wb.add_worksheet("填报表")
        ws.merge_range(0, 0, 0, 6, rules.spec.form_title, fixed)
        ws.merge_range(1, 2, 1, 4, town, fixed)
        for r in (2, 3):
            ws.merge_range(r, 2, r, 3, "", value)
        row = 5
        for item in rules.items:
            ws.merge_range(row, 0, row, 6, item.name, fixed)
            row += 1
            for ind in item.indicators:
                ws.write_row(row, 0, [f"{item.number}", ind.id, item.name, ind.label], fixed)
                ws.write_blank(row, 4, None, percent if ind.type == "percent" else value)
                ws.write_row(row, 5, [ind.unit, ind.help], fixed)
                if ind.type == "bool":
                    dv = {"validate": "list", "source": ["是", "否"]}
                elif ind.type == "count":
                    dv = {"validate": "integer", "criteria": ">=", "value": 0}
                else:
                    dv = {"validate": "custom", "value": f'=OR(AND(ISNUMBER(E{row + 1}),E{row + 1}>=0,'
                                                        f'E{row + 1}<=1),E{row + 1}="不适用")'}
                ws.data_validation(row, 4, row, 4, {**dv, "input_title": ind.label[:32], "input_message": ind.help,
                                                    "error_title": "填报值不正确", "error_message": "请重新填写。"})
                ws.set_row(row, 30)
                row += 1
        ws.repeat_rows(4)
        ws.fit_to_pages(1, 0)
        ws.protect("")
        notes = wb.add_worksheet("填报说明")
        for r in range(20):
            notes.write_string(r, 0, "填报说明" * 10)
        meta = wb.add_worksheet("_qz_meta")
        for r in range(7):
            meta.write_row(r, 0, ["key", town])
        meta.very_hidden()
        wb.close()


def bench_templates(rules, n: int, repeat: int) -> list[tuple[str, float, str]]:
    towns = pd.DataFrame({"单位名称": [f"单位{i:05d}" for i in range(n)]})
    names = list(towns["单位名称"])
    with tempfile.TemporaryDirectory() as tmp:
        ours = timed(lambda: write_templates(rules, towns, Path(tmp) / "ours",
                                             TemplateOptions(generated_at="2010-12-01")), repeat)
        (Path(tmp) / "bare").mkdir()
        bare = timed(lambda: bare_templates(rules, names, Path(tmp) / "bare"), repeat)
        same = timed(lambda: bare_same_workbook(rules, names, Path(tmp) / "bare"), repeat)
    os.environ["QZ_WORKERS"] = "1"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            single = timed(lambda: write_templates(rules, towns, Path(tmp),
                                                   TemplateOptions(generated_at="2010-12-01")), repeat)
    finally:
        del os.environ["QZ_WORKERS"]
    return [("template: qz template (all cores)", ours, f"{n} towns, {ours / n * 1000:.1f} ms each"),
            ("template: qz template (one core)", single, f"{single / n * 1000:.1f} ms each"),
            ("template: bare writer, same workbook", same, f"ours/bare = {ours / same:.2f}× "
                                                           f"(one core: {single / same:.2f}×)"),
            ("template: bare writer, same cells only", bare, f"ours/bare = {ours / bare:.2f}× "
                                                             f"(one core: {single / bare:.2f}×)")]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--score-towns", type=int, default=10_000)
    parser.add_argument("--templates", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    rules = load_rules()
    rows = bench_score(rules, args.score_towns, args.repeat) + bench_templates(rules, args.templates, args.repeat)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"pandas {pd.__version__}")
    width = max(len(r[0]) for r in rows)
    for name, seconds, note in rows:
        print(f"{name:<{width}}  {seconds:8.3f} s  {note}")


if __name__ == "__main__":
    main()
