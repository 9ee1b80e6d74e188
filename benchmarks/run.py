"""Benchmarks, each reported as a ratio against a baseline measured in the same run.

    python benchmarks/run.py --n 2000 --national 40000    # the figures in benchmarks/README.md
    python benchmarks/run.py --n 20 --repeat 1 --score-towns 20     # smoke (the test suite)

Inboxes are generated from the real template in two profiles (PROFILES): realistic, a
first round where about one town in nine has something to correct, and worst, where
every cell is drawn from all forms, bad ones included. For each profile:
- `qz score` as a whole process (all cores) at 30, 200 and N towns against the
  all-outputs floor: one process that reads every returned file's value cells with
  python-calamine and writes, with bare XlsxWriter, every workbook the run wrote (汇总,
  核定表, each 评分细则 and 反馈) with the same cells;
- a rerun after 20 files were corrected, into the results folder of a full run, against
  a full run of the same inbox;
- peak memory (PSS of the whole process tree) of `qz score` at N;
- the phases against their own floors: intake vs. python-calamine reading the value
  column, the 评分细则 vs. bare XlsxWriter writing the same cells, 汇总.xlsx vs. the same
  cells in the same constant-memory mode; a naive openpyxl script (scaled).
Also: start-up of `qz --help`, `--version`, `rules check`; the score engine on
--score-towns synthetic towns vs. a vectorised floor and a naive loop; `qz template` vs.
a bare writer; and with --national, one run of that many towns (time, peak memory).
Medians of --repeat runs; the machine is noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import xlsxwriter

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from python_calamine import CalamineWorkbook  # noqa: E402

from qz_excel.common.parallel import map_chunks  # noqa: E402
from qz_excel.intake import read as intake  # noqa: E402
from qz_excel.intake.read import DTYPES  # noqa: E402
from qz_excel.pipeline import _write_town_chunk, run_score  # noqa: E402
from qz_excel.results.cache import ReuseContext  # noqa: E402
from qz_excel.results.town_sheet import TownPages  # noqa: E402
from qz_excel.rules.points import points_number  # noqa: E402
from qz_excel.rules.ruleset import load_rules  # noqa: E402
from qz_excel.rules.values import NOT_APPLICABLE, parse_value  # noqa: E402
from qz_excel.scoring.engine import score  # noqa: E402
from qz_excel.template.writer import TemplateOptions, write_template, write_templates  # noqa: E402


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
        {c: DTYPES[i.type] for c, i in rules.catalog.items()}
    )


@contextmanager
def one_core():
    """Our code on one core (QZ_WORKERS=1): the like-for-like comparison with a floor
    script, which runs in one process."""
    before = os.environ.get("QZ_WORKERS")
    os.environ["QZ_WORKERS"] = "1"
    try:
        yield
    finally:
        if before is None:
            del os.environ["QZ_WORKERS"]
        else:
            os.environ["QZ_WORKERS"] = before


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
    return [
        ("score: engine", engine, f"{n} towns"),
        ("score: floor (touch every value)", floor_t, f"engine/floor = {engine / floor_t:.1f}×"),
        ("score: naive per-town loop (scaled)", naive_t, f"naive/engine = {naive_t / engine:.0f}×"),
    ]


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
                    dv = {
                        "validate": "custom",
                        "value": f'=OR(AND(ISNUMBER(E{row + 1}),E{row + 1}>=0,E{row + 1}<=1),E{row + 1}="不适用")',
                    }
                ws.data_validation(
                    row,
                    4,
                    row,
                    4,
                    {
                        **dv,
                        "input_title": ind.label[:32],
                        "input_message": ind.help,
                        "error_title": "填报值不正确",
                        "error_message": "请重新填写。",
                    },
                )
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
        ours = timed(
            lambda: write_templates(rules, towns, Path(tmp) / "ours", TemplateOptions(generated_at="2010-12-01")),
            repeat,
        )
        (Path(tmp) / "bare").mkdir()
        bare = timed(lambda: bare_templates(rules, names, Path(tmp) / "bare"), repeat)
        same = timed(lambda: bare_same_workbook(rules, names, Path(tmp) / "bare"), repeat)
    with one_core(), tempfile.TemporaryDirectory() as tmp:
        single = timed(
            lambda: write_templates(rules, towns, Path(tmp), TemplateOptions(generated_at="2010-12-01")), repeat
        )
    return [
        ("template: qz template (all cores)", ours, f"{n} towns, {ours / n * 1000:.1f} ms each"),
        ("template: qz template (one core)", single, f"{single / n * 1000:.1f} ms each"),
        (
            "template: bare writer, same workbook",
            same,
            f"ours/bare = {ours / same:.2f}× (one core: {single / same:.2f}×)",
        ),
        (
            "template: bare writer, same cells only",
            bare,
            f"ours/bare = {ours / bare:.2f}× (one core: {single / bare:.2f}×)",
        ),
    ]


# ---- the scale table ----------------------------------------------------------------

FORMS = {
    "bool": [("是", 80), ("否", 10), ("√", 3), ("有", 3), ("Y", 2), (None, 1), ("是的", 1)],
    "count": [(0, 20), (1, 20), (2, 20), (3, 15), (5, 10), ("3次", 5), ("２", 5), (None, 3), (2.5, 2)],
    "percent": [
        (0.985, 25),
        (1, 25),
        (0.92, 15),
        ("98.5%", 10),
        (99.5, 10),
        ("不适用", 10),
        (None, 3),
        ("百分之九十", 2),
    ],
}
#: forms a town must correct: an empty cell, or one no rule can read
BAD_FORMS = {None, "是的", 2.5, "百分之九十"}
#: inbox profiles. realistic: like a real first round (and sample_workbooks/), about one
#: town in nine has something to correct, one to three cells; the others fill every cell
#: in a form the rules read (是/√/有, 「3次」, 「98.5%」 as text, fractions, 不适用).
#: worst: every cell drawn from all forms, bad ones included (89 % of towns then have
#: something to correct and get a 反馈 workbook)
PROFILES = ("realistic", "worst")
PROBLEM_SHARE = 1 / 9


def _draw(rng, forms):
    values, weights = zip(*forms)
    return values[rng.choice(len(values), p=np.array(weights) / sum(weights))]


def town_values(rules, rng, profile: str, with_problem: bool) -> dict:
    if profile == "worst":
        return {code: _draw(rng, FORMS[ind.type]) for code, ind in rules.catalog.items()}
    good = {kind: [f for f in forms if f[0] not in BAD_FORMS] for kind, forms in FORMS.items()}
    values = {code: _draw(rng, good[ind.type]) for code, ind in rules.catalog.items()}
    for _, rule in rules.subrules():  # a part never exceeds its whole (纳入台帐单位数 ≤ 单位总数)
        if rule.kind == "ratio_steps":
            part, whole = rule.inputs()
            values[part] = int(rng.integers(5, 40))
            values[whole] = values[part] + int(rng.integers(0, 5))
    if with_problem:
        codes = list(rules.catalog)
        for k in rng.choice(len(codes), size=int(rng.integers(1, 4)), replace=False):
            code = codes[k]
            bad = [f for f in FORMS[rules.catalog[code].type] if f[0] in BAD_FORMS]
            values[code] = _draw(rng, bad)
    return values


def _make_chunk(jobs, rules):
    return [
        write_template(rules, town, path, TemplateOptions(generated_at="2010-12-01"), prefill=values)
        for town, path, values in jobs
    ]


def make_inbox(rules, n: int, folder: Path, seed: int = 11, profile: str = "realistic") -> tuple[Path, Path]:
    """N returned workbooks from the real template, values in varied forms (see PROFILES);
    and towns.csv."""
    rng = np.random.default_rng(seed)
    towns = [f"单位{i:05d}" for i in range(n)]
    problem = set(rng.choice(n, size=round(n * PROBLEM_SHARE), replace=False).tolist())
    jobs = [
        (town, folder / "inbox" / f"回报{k:05d}.xlsx", town_values(rules, rng, profile, k in problem))
        for k, town in enumerate(towns)
    ]
    map_chunks(_make_chunk, jobs, rules)
    towns_csv = folder / "towns.csv"
    towns_csv.write_text("单位名称\n" + "\n".join(towns) + "\n", encoding="utf-8")
    return folder / "inbox", towns_csv


def floor_intake(files: list[Path]) -> list:
    """python-calamine opens each file and reads the value column: nothing else."""
    column = []
    for path in files:
        rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("填报表").to_python()
        column.append([row[4] for row in rows[5:]])
    return column


def town_pages(rules, inbox: Path):
    returns = intake.read_returns(intake.inbox_files(inbox), rules)
    values, notes = intake.values_frames(
        intake.choose_among_duplicates(returns, [r.town for r in returns], rules), rules
    )
    return list(TownPages(rules, score(rules, values, notes)))


def floor_town_sheets(rules, pages, out: Path) -> None:
    """The same cells as each 评分细则, written by a bare XlsxWriter script."""
    out.mkdir(parents=True, exist_ok=True)
    for k, (town, scores, explanations, total, *_) in enumerate(pages):
        wb = xlsxwriter.Workbook(str(out / f"{k}.xlsx"), {"in_memory": True})
        ws = wb.add_worksheet("评分细则")
        ws.write_string(0, 0, "附件2：")
        ws.write_string(1, 0, f"2010年{town}质量振兴工作考核评分细则")
        ws.write_row(2, 0, ["序号", "考核内容", "评分方法", "标准分", "实得分", "得分说明"])
        for r, item in enumerate(rules.items, start=3):
            ws.write_row(
                r,
                0,
                [
                    item.number,
                    item.content,
                    item.method,
                    points_number(item.standard),
                    points_number(scores[item.number]),
                    explanations[item.number],
                ],
            )
        ws.write_row(13, 0, ["合计", "", "", 100, total])
        ws.write_string(15, 0, "考核人：          复核人：          日期：")
        wb.close()


def floor_summary(rules, inbox: Path, out: Path) -> None:
    """The same 汇总.xlsx cells (ranking, audit trail, problems, files), written by a bare
    XlsxWriter script in the same constant-memory mode, without formats or chart."""
    frames = summary_frames(rules, inbox)
    wb = xlsxwriter.Workbook(str(out), {"constant_memory": True})
    for name, frame in frames.items():
        ws = wb.add_worksheet(name)
        ws.write_row(0, 0, list(frame.columns))
        for r, row in enumerate(frame.itertuples(index=False), start=1):
            for c, value in enumerate(row):
                if isinstance(value, str):
                    ws.write_string(r, c, value)
                elif value == value and value is not None:
                    ws.write_number(r, c, float(value))
    wb.close()


def summary_frames(rules, inbox: Path) -> dict:
    """What qz score puts in 汇总.xlsx, as plain frames (computed once, outside the timing)."""
    if inbox not in _SUMMARY_CACHE:
        out = inbox.parent / "summary-source"
        report = run_score(inbox, inbox.parent / "towns.csv", out, rules)
        book = CalamineWorkbook.from_path(str(out / "汇总.xlsx"))
        frames = {}
        for name in book.sheet_names:
            rows = book.get_sheet_by_name(name).to_python()
            if rows:  # 总分图 holds charts only
                frames[name] = pd.DataFrame(rows[1:], columns=rows[0])
        _SUMMARY_CACHE[inbox] = frames
        del report
    return _SUMMARY_CACHE[inbox]


_SUMMARY_CACHE: dict = {}


def town_sheet_jobs(rules, pages, out: Path) -> list:
    out.mkdir(parents=True, exist_ok=True)  # qz score writes them into a staging folder
    return [(out / f"{k}.xlsx", page, None) for k, page in enumerate(pages)]  # nothing to reuse


def naive_openpyxl(rules, files: list[Path], out: Path) -> None:
    """How one would write it without this project: openpyxl to read and write, one town
    at a time through the scorer."""
    import openpyxl

    out.mkdir(parents=True, exist_ok=True)
    totals = []
    for k, path in enumerate(files):
        wb = openpyxl.load_workbook(path)
        ws = wb["填报表"]
        town = wb["_qz_meta"]["B3"].value
        values = {}
        for row in ws.iter_rows(min_row=6):
            code, raw = row[1].value, row[4].value
            if code in rules.catalog:
                try:
                    values[code] = None if raw is None else parse_value(raw, rules.catalog[code].type).value
                except ValueError:
                    values[code] = None
        frame = pd.DataFrame([values], index=[town]).astype({c: DTYPES[i.type] for c, i in rules.catalog.items()})
        result = score(rules, frame)
        book = openpyxl.Workbook()
        sheet = book.active
        sheet.append(["序号", "考核内容", "评分方法", "标准分", "实得分", "得分说明"])
        for item in rules.items:
            lines = result.details[result.details["item"] == item.number]["explanation"]
            sheet.append(
                [
                    item.number,
                    item.content,
                    item.method,
                    item.standard,
                    int(result.summary.loc[town, item.number]),
                    "\n".join(map(str, lines)),
                ]
            )
        book.save(out / f"{k}.xlsx")
        totals.append((town, int(result.summary.loc[town, "总分"])))
    book = openpyxl.Workbook()
    for town, total in sorted(totals, key=lambda t: -t[1]):
        book.active.append([town, total])
    book.save(out / "汇总.xlsx")


def peak_memory_mib(args: list[str], keep_output: bool = False):
    """Run a command; sample the proportional set size (PSS: shared pages counted once) of
    its whole process tree every 20 ms. Returns the peaks in MiB of the whole tree, of the
    main process, and of its worker processes together (and, with ``keep_output``, what
    the command printed)."""
    with tempfile.TemporaryFile("w+", encoding="utf-8") as printed:
        proc = subprocess.Popen(args, stdout=printed, stderr=subprocess.DEVNULL, cwd=REPO)
        peak = peak_main = peak_workers = 0
        while proc.poll() is None:
            main = _pss_kib(proc.pid)
            workers = sum(_pss_kib(pid) for pid in _tree(proc.pid) if pid != proc.pid)
            peak, peak_main, peak_workers = max(peak, main + workers), max(peak_main, main), max(peak_workers, workers)
            time.sleep(0.02)
        printed.seek(0)
        output = printed.read()
    peaks = (peak / 1024, peak_main / 1024, peak_workers / 1024)
    return (*peaks, output) if keep_output else peaks


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except OSError:
            pass
    return pids


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def bench_scale(rules, inboxes: Inboxes, n: int, profile: str, repeat: int, naive_sample: int) -> tuple[list, dict]:
    """The phases of a run against their own floors, in this process."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        inbox, towns_csv = inboxes.get(n, profile)
        files = intake.inbox_files(inbox)
        floor_in = timed(lambda: floor_intake(files), repeat)
        ours_in = timed(lambda: intake.read_returns(files, rules), repeat)
        with one_core():
            ours_in_1 = timed(lambda: intake.read_returns(files, rules), repeat)
        pages = town_pages(rules, inbox)
        floor_out = timed(lambda: floor_town_sheets(rules, pages, tmp / "floor"), repeat)
        jobs = town_sheet_jobs(rules, pages, tmp / "ours-sheets")
        reuse = ReuseContext(tmp, tmp / "ours-sheets", "benchmark", rules.fingerprint)
        ours_out = timed(lambda: map_chunks(_write_town_chunk, jobs, rules, reuse), repeat)
        with one_core():
            ours_out_1 = timed(lambda: map_chunks(_write_town_chunk, jobs, rules, reuse), repeat)
        summary_frames(rules, inbox)
        floor_sum = timed(lambda: floor_summary(rules, inbox, tmp / "floor-summary.xlsx"), repeat)
        reports = []

        def e2e():
            out = tmp / f"out{len(reports)}"
            reports.append(run_score(inbox, towns_csv, out, rules))

        total = timed(e2e, repeat)
        laps = {k: statistics.median(r.timings[k] for r in reports) for k in reports[0].timings}
        sample = files[: min(naive_sample, n)]
        naive = timed(lambda: naive_openpyxl(rules, sample, tmp / "naive"), 1) * n / len(sample)
    mark = "✓" if ours_in / floor_in <= 1.5 else "✗"
    rows += [
        (
            f"{profile} N={n} intake (safety checks, workers)",
            ours_in,
            f"ours/floor = {ours_in / floor_in:.2f}×  (target ≤ 1.5) {mark}; on one core {ours_in_1 / floor_in:.2f}×",
        ),
        (f"{profile} N={n} intake floor: calamine reads value column", floor_in, f"{floor_in / n * 1000:.2f} ms/file"),
        (
            f"{profile} N={n} 评分细则 writing (workers)",
            ours_out,
            f"ours/floor = {ours_out / floor_out:.2f}×; on one core {ours_out_1 / floor_out:.2f}×",
        ),
        (f"{profile} N={n} 评分细则 floor: bare XlsxWriter", floor_out, f"{floor_out / n * 1000:.2f} ms/town"),
        (
            f"{profile} N={n} 汇总.xlsx writing (in qz score)",
            laps["summary"],
            f"ours/floor = {laps['summary'] / floor_sum:.2f}×",
        ),
        (f"{profile} N={n} 汇总.xlsx floor: bare XlsxWriter", floor_sum, f"{n * len(rules.subrules())} audit rows"),
        (
            f"{profile} N={n} run_score in this process",
            total,
            "phases: " + ", ".join(f"{k} {v:.2f} s" for k, v in laps.items()),
        ),
        (
            f"{profile} N={n} naive openpyxl script (scaled from {len(sample)})",
            naive,
            f"naive/ours = {naive / total:.1f}×",
        ),
    ]
    phases = {"intake": ours_in, "scoring": laps["scoring"], "评分细则": ours_out, "汇总.xlsx": laps["summary"]}
    return rows, phases


ALL_OUTPUTS_FLOOR = """
import pickle, sys, time
from pathlib import Path
import xlsxwriter
from python_calamine import CalamineWorkbook
started = time.perf_counter()
inbox, cells, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
with open(cells, "rb") as fh:
    books = pickle.load(fh)
loading = time.perf_counter() - started
for path in sorted(inbox.iterdir()):
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("填报表").to_python()
    values = [row[4] for row in rows[5:]]
out.mkdir(parents=True, exist_ok=True)
for k, (name, sheets) in enumerate(books):
    wb = xlsxwriter.Workbook(str(out / f"{k}.xlsx"), {"in_memory": True})
    for sheet, rows in sheets:
        ws = wb.add_worksheet(sheet)
        write_string, write_number = ws.write_string, ws.write_number
        for r, row in enumerate(rows):
            for c, v in enumerate(row):
                if v.__class__ is str:
                    if v:
                        write_string(r, c, v)
                elif v.__class__ in (int, float):
                    write_number(r, c, v)
                elif v is not None:
                    write_string(r, c, str(v))
    wb.close()
print(loading)
"""


def capture_outputs(out: Path, target: Path) -> int:
    """Every workbook a run wrote (汇总, 核定表, each 评分细则 and 反馈), every sheet's cells as
    calamine reads them, pickled for the all-outputs floor. Returns the number of workbooks."""
    books = []
    for path in sorted(out.rglob("*.xlsx")):
        book = CalamineWorkbook.from_path(str(path))
        books.append((path.name, [(name, book.get_sheet_by_name(name).to_python()) for name in book.sheet_names]))
    with open(target, "wb") as fh:
        pickle.dump(books, fh, protocol=5)
    return len(books)


def floor_seconds(inbox: Path, cells: Path, out: Path, repeat: int) -> float:
    """The all-outputs floor as a whole process, less the time it takes to load the cells
    (which stand in for what the run computes): one process reads every returned file's
    value cells with python-calamine and writes every workbook of the run, with the same
    cells, with bare XlsxWriter."""
    runs = []
    for _ in range(repeat):
        shutil.rmtree(out, ignore_errors=True)
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", ALL_OUTPUTS_FLOOR, str(inbox), str(cells), str(out)],
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(time.perf_counter() - started - float(done.stdout.split()[-1]))
    return statistics.median(runs)


def process_seconds(args: list[str], repeat: int) -> float:
    """A whole process, timed from outside (interpreter start and imports included)."""
    runs = []
    for _ in range(max(repeat, 5)):
        started = time.perf_counter()
        subprocess.run(args, capture_output=True, check=False, cwd=REPO)
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def bench_startup(rules, repeat: int) -> list[tuple[str, float, str]]:
    """Start-up as a clerk meets it: `qz --help`, `--version`, `rules check` against a bare
    interpreter (whole processes)."""
    qz = [sys.executable, "-m", "qz_excel"]
    bare = process_seconds([sys.executable, "-c", "pass"], repeat)
    deps = process_seconds([sys.executable, "-c", "import click, pydantic, jinja2, yaml"], repeat)
    rows = [("start-up: bare python", bare, "the floor of any command")]
    for label, args in (
        ("qz --help", ["--help"]),
        ("qz --version", ["--version"]),
        ("qz rules check", ["rules", "check"]),
    ):
        seconds = process_seconds(qz + args, repeat)
        rows.append((f"start-up: {label}", seconds, f"{seconds / bare:.1f}× bare python"))
    rows.append(("start-up: import click, pydantic, jinja2, yaml", deps, "what rules check cannot do without"))
    return rows


QZ = [sys.executable, "-m", "qz_excel"]


def qz_score_args(inbox: Path, towns: Path, out: Path) -> list[str]:
    return QZ + ["score", str(inbox), "--towns", str(towns), "--out", str(out)]


class Inboxes:
    """Generated inboxes, each made once per benchmark run: (N, profile) → (inbox, towns)."""

    def __init__(self, rules, root: Path):
        self.rules, self.root, self.made = rules, root, {}

    def get(self, n: int, profile: str) -> tuple[Path, Path]:
        if (n, profile) not in self.made:
            self.made[(n, profile)] = make_inbox(self.rules, n, self.root / f"{profile}-{n}", profile=profile)
        return self.made[(n, profile)]


def full_runs(inbox: Path, towns: Path, out: Path, repeat: int) -> float:
    """`qz score` as a whole process into an empty results folder (no earlier run to reuse)."""
    runs = []
    for _ in range(repeat):
        shutil.rmtree(out, ignore_errors=True)
        started = time.perf_counter()
        done = subprocess.run(qz_score_args(inbox, towns, out), capture_output=True, text=True, cwd=REPO)
        runs.append(time.perf_counter() - started)
        if done.returncode not in (0, 1) or not (out / "汇总.xlsx").is_file():  # 1: the inbox has problems
            raise RuntimeError(f"qz score failed ({done.returncode}): {done.stderr[-2000:]}")
    return statistics.median(runs)


def bench_all_outputs(inboxes: Inboxes, n: int, profile: str, repeat: int, target: float | None) -> list:
    """`qz score` (all cores, whole process) against the all-outputs floor (one process)."""
    inbox, towns = inboxes.get(n, profile)
    work = inbox.parent
    ours = full_runs(inbox, towns, work / "out-full", repeat)
    books = capture_outputs(work / "out-full", work / "cells.pickle")
    floor = floor_seconds(inbox, work / "cells.pickle", work / "out-floor", repeat)
    requests = len(list((work / "out-full" / "反馈").glob("*.xlsx")))
    goal = f"  (target ≤ {target}) {'✓' if ours / floor <= target else '✗'}" if target else ""
    return [
        (
            f"{profile} N={n} qz score, whole process",
            ours,
            f"ours/floor = {ours / floor:.2f}×{goal}; {books} workbooks, {requests} of them 反馈",
        ),
        (f"{profile} N={n} all-outputs floor", floor, "calamine reads, bare XlsxWriter writes every workbook"),
    ]


def change_files(rules, inbox: Path, count: int, seed: int) -> None:
    """``count`` returned files corrected: written again with other values."""
    rng = np.random.default_rng(seed)
    files = sorted(inbox.iterdir())
    jobs = []
    for k in rng.choice(len(files), size=count, replace=False):
        path = files[int(k)]
        town = f"单位{int(path.stem[-5:]):05d}"
        jobs.append((town, path, town_values(rules, rng, "realistic", False)))
    _make_chunk(jobs, rules)


def bench_rerun(rules, inboxes: Inboxes, n: int, profile: str, repeat: int, changed: int = 20) -> list:
    """A correction round: `qz score` into the results folder of a full run after
    ``changed`` files were corrected, against a full run of the same inbox."""
    inbox, towns = inboxes.get(n, profile)
    work = inbox.parent
    originals = work / "originals"
    shutil.copytree(inbox, originals, dirs_exist_ok=True)
    reruns, fulls = [], []
    for k in range(repeat):
        shutil.rmtree(inbox)
        shutil.copytree(originals, inbox)
        out = work / "out-rerun"
        shutil.rmtree(out, ignore_errors=True)
        subprocess.run(qz_score_args(inbox, towns, out), capture_output=True, check=False, cwd=REPO)
        change_files(rules, inbox, changed, seed=100 + k)
        started = time.perf_counter()
        subprocess.run(qz_score_args(inbox, towns, out), capture_output=True, check=False, cwd=REPO)
        reruns.append(time.perf_counter() - started)
        fulls.append(full_runs(inbox, towns, work / "out-full-changed", 1))
    shutil.rmtree(inbox)
    shutil.copytree(originals, inbox)  # as made, for whatever is measured next
    rerun, full = statistics.median(reruns), statistics.median(fulls)
    mark = "✓" if rerun / full <= 0.35 else "✗"
    return [
        (
            f"{profile} N={n} rerun, {changed} files changed",
            rerun,
            f"rerun/full = {rerun / full:.2f}×  (target ≤ 0.35) {mark}",
        ),
        (f"{profile} N={n} full run of the same inbox", full, "into an empty results folder"),
    ]


def bench_memory(inboxes: Inboxes, n: int, profile: str) -> list:
    inbox, towns = inboxes.get(n, profile)
    if not Path("/proc/self/smaps_rollup").exists():
        return []
    out = inbox.parent / "out-memory"
    shutil.rmtree(out, ignore_errors=True)
    peak, main_mib, workers = peak_memory_mib(qz_score_args(inbox, towns, out))
    mark = "✓" if peak < 300 else "✗"
    return [
        (
            f"{profile} N={n} peak memory, whole process tree (PSS)",
            float("nan"),
            f"{peak:.0f} MiB  (target < 300) {mark}; main process {main_mib:.0f}, workers {workers:.0f}",
        )
    ]


NATIONAL_SCRIPT = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
started = time.perf_counter()
from qz_excel.rules.ruleset import load_rules
from qz_excel.pipeline import run_score
report = run_score(Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]), load_rules())
print(json.dumps({**report.timings, "total": time.perf_counter() - started, "requests": len(report.requests)}))
"""


def bench_national(rules, n: int, root: Path) -> list:
    """About every township in China in one run: time, phases and peak memory."""
    started = time.perf_counter()
    inbox, towns = make_inbox(rules, n, root / f"national-{n}")
    made = time.perf_counter() - started
    out = root / f"national-{n}" / "out"
    peak, main_mib, workers, stdout = peak_memory_mib(
        [sys.executable, "-c", NATIONAL_SCRIPT, str(REPO), str(inbox), str(towns), str(out)], keep_output=True
    )
    laps = json.loads(stdout.strip().splitlines()[-1])
    size = sum(p.stat().st_size for p in inbox.iterdir()) / 2**20
    mark = "✓" if peak < 1024 else "✗"
    return [
        (f"national N={n} inbox generated", made, f"{size:.0f} MiB of returned workbooks"),
        (
            f"national N={n} qz score (run_score, one process tree)",
            laps["total"],
            f"peak {peak:.0f} MiB (target < 1024) {mark}; main {main_mib:.0f}, workers {workers:.0f}; "
            + ", ".join(f"{k} {v:.1f} s" for k, v in laps.items() if k not in ("total", "requests")),
        ),
    ]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="returned workbooks for the scale table")
    parser.add_argument("--score-towns", type=int, default=10_000)
    parser.add_argument("--templates", type=int, default=None, help="default: N")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--naive-sample", type=int, default=100)
    parser.add_argument("--national", type=int, default=0, help="also one run of this many towns (40000)")
    parser.add_argument("--profiles", default=",".join(PROFILES), help="inbox profiles, comma-separated")
    args = parser.parse_args(argv)
    rules = load_rules()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"pandas {pd.__version__}, {platform.system()}"
    )
    profiles = args.profiles.split(",")
    rows = bench_startup(rules, args.repeat)
    rows += bench_score(rules, args.score_towns, args.repeat)
    rows += bench_templates(rules, args.templates or args.n, args.repeat)
    small = min(30, args.n)
    sizes = sorted({small, min(200, args.n), args.n})
    with tempfile.TemporaryDirectory() as tmp:
        inboxes = Inboxes(rules, Path(tmp))
        for profile in profiles:
            for n in sizes:
                # the targets: ≤ 1.5× at 30 towns (start-up counts), ≤ 1.0× at N; none between
                target = 1.5 if n == small else 1.0 if n == args.n else None
                rows += bench_all_outputs(inboxes, n, profile, args.repeat, target)
            rows += bench_rerun(rules, inboxes, args.n, profile, args.repeat)
            rows += bench_memory(inboxes, args.n, profile)
            scale, phases = bench_scale(rules, inboxes, args.n, profile, args.repeat, args.naive_sample)
            rows += scale
        if args.national:
            rows += bench_national(rules, args.national, Path(tmp))
    width = max(len(r[0]) for r in rows)
    for name, seconds, note in rows:
        shown = "" if seconds != seconds else f"{seconds:8.3f} s"  # NaN: not a time
        print(f"{name:<{width}}  {shown:>10}  {note}")


if __name__ == "__main__":
    main()
