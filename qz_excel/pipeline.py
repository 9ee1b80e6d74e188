"""`qz score` as a library call: inbox → intake → scoring → result workbooks → Report.

Nothing here prints or exits; the CLI renders the Report.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager as ContextManager
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from qz_excel.common.files import safe_file_stem, unique_path
from qz_excel.common.parallel import MIN_PARALLEL, Chunks, Workers
from qz_excel.common.problems import ERROR, NOT_RETURNED_STATUS, Problem, Report, counted, problems_frame
from qz_excel.common.towns import read_towns
from qz_excel.followup import feedback
from qz_excel.followup.reminders import FEEDBACK_DIR, SUMMARY_NAME  # what `qz mail` reads back
from qz_excel.followup.review import (
    INITIAL,
    REVIEW_NAME,
    VERIFIED_STAGE,
    Review,
    apply_review,
    review_records,
    reviewed_mask,
    self_report_texts,
)
from qz_excel.followup.review_table import review_hints, write_review_table
from qz_excel.intake import read as intake
from qz_excel.intake.changes import changes_frame
from qz_excel.results import office
from qz_excel.results.booklet import BookletFailed, Entry, build_booklet
from qz_excel.results.cache import CACHE_DIR, ReuseContext, RunCache
from qz_excel.results.last_year import NEW, LastYear, add_last_year, year_on_year
from qz_excel.results.publish import ResultsFolder
from qz_excel.results.summary import ReportInfo, audit_trail, write_ranking_print, write_summary
from qz_excel.results.town_sheet import TownPages, write_town_workbook
from qz_excel.rules.points import SCALE
from qz_excel.rules.ruleset import Rules, check_rules
from qz_excel.scoring.engine import ScoreResult, score

NORMAL, REVIEW, VERIFIED, NOT_RETURNED = "正常", "待核实", "已核定", NOT_RETURNED_STATUS
FINAL = (NORMAL, VERIFIED)  # statuses whose scores are not provisional
TOWN_DIR = "评分细则"
PDF_DIR = "pdf"
RANKING_PDF = "汇总排名"
BOOKLET_NAME = "评分细则汇编.pdf"
#: what a run's results consist of in --out: published together, or not at all
RESULT_NAMES = (SUMMARY_NAME, REVIEW_NAME, TOWN_DIR, FEEDBACK_DIR, PDF_DIR, CACHE_DIR)


@dataclass(frozen=True)
class ScoreOptions:
    strict: bool = False  # towns with errors are listed but not ranked
    per_town_sheets: bool = False  # also put every 评分细则 into 汇总.xlsx
    pdf: bool = False  # print 汇总排名 and every 评分细则 to PDF through LibreOffice
    maker: str = ReportInfo.maker  # 制表单位 on the printed 汇总排名
    made_on: date | None = None  # 制表日期; None: today
    last_year: LastYear | None = None  # last year's results: 上年总分, 上年名次, 名次变化, 同比


def competition_rank(totals: pd.Series) -> pd.Series:
    """1, 2, 2, 4: equal totals share a rank and the next rank skips."""
    return totals.rank(method="min", ascending=False).astype("Int64")


def _shown_points(hundredths: pd.Series) -> pd.Series:
    """Points as the table shows them: whole points stay integers (Int64); a column with a
    decimal becomes Float64, exact to the 16 digits a cell keeps."""
    hundredths = hundredths.astype("Int64")
    if (hundredths.dropna() % SCALE == 0).all():
        return hundredths // SCALE
    return hundredths.astype("Float64") / SCALE


def _last_year_notes(ranking: pd.DataFrame) -> dict[str, str]:
    """Town → 「上年总分 82.5，名次 3」 for its 评分细则 (「上年未参加」 for a new town)."""
    notes = {}
    for town, total, rank, change in ranking[["单位名称", "上年总分", "上年名次", "名次变化"]].itertuples(index=False):
        if change == NEW:
            notes[town] = "上年未参加"
        elif pd.isna(total):
            notes[town] = "上年未排名"
        else:
            shown = f"{float(total):g}"
            notes[town] = f"上年总分 {shown}" + ("" if pd.isna(rank) else f"，名次 {int(rank)}")
    return notes


def ranking_table(
    rules: Rules, towns: pd.DataFrame, result: ScoreResult, status: pd.Series, strict: bool
) -> pd.DataFrame:
    """汇总排名: every town in the towns file; the returned ones ranked, sorted by rank,
    ties and unranked towns in towns-file order."""
    summary = result.summary
    table = pd.DataFrame({"单位名称": towns["单位名称"], "类别": towns["类别"]})
    table["状态"] = table["单位名称"].map(status).astype(object).fillna(NOT_RETURNED)  # no returns: all NaN
    for item in rules.items:
        table[item.header] = _shown_points(table["单位名称"].map(summary[item.number]))
    table["加分合计"] = _shown_points(table["单位名称"].map(summary["加分合计"]))
    hundredths = table["单位名称"].map(summary["总分"]).astype("Int64")
    table["总分"] = _shown_points(hundredths)
    rankable = hundredths.notna()
    if strict:
        rankable &= table["状态"].isin(FINAL)
    table["排名"] = pd.array([pd.NA] * len(table), dtype="Int64")
    table.loc[rankable, "排名"] = competition_rank(hundredths[rankable])  # ranked on exact integers
    table["_order"] = np.arange(len(table))
    table = table.sort_values(["排名", "_order"], kind="stable", na_position="last")
    columns = ["排名", "单位名称", "类别", *[i.header for i in rules.items], "加分合计", "总分", "状态"]
    if rules.grades:
        table["等级"] = table["单位名称"].map(summary["等级"]).astype(object)
        columns.insert(columns.index("状态"), "等级")
    return table[columns].reset_index(drop=True)


def _pair_problems(result: ScoreResult, rules: Rules, accepted: dict[str, intake.Returned]) -> list[Problem]:
    """Sub-rules whose inputs contradict each other (e.g. 纳入台帐单位数 > 单位总数)."""
    bad = result.details[result.details["outcome"] == "invalid"]
    rules_by_id = {rule.id: rule for _, rule in rules.subrules()}
    problems = []
    for row in bad.itertuples(index=False):
        ret = accepted[row.town]
        inputs, cells = rules_by_id[row.rule].inputs(), ret.cells
        problems.append(
            Problem(
                "INVALID_PAIR",
                file=ret.file,
                town=row.town,
                sheet=ret.sheet,
                cell=",".join(cells.get(i, "") for i in inputs),
                indicator=",".join(inputs),
                detail=row.explanation,
            )
        )
    return problems


def town_statuses(accepted: list[intake.Returned], result: ScoreResult, reviewed: dict[str, set[str]]) -> pd.Series:
    """正常, 待核实 (an empty, invalid or contradictory value, or another error in the file),
    or 已核定: reviewed, and the review resolved every reason the town was 待核实 (an error
    on an indicator the 考核组 gave a value for no longer counts)."""
    flagged = result.summary["待核实"].to_dict()
    status = {}
    for ret in accepted:
        checked = reviewed.get(ret.town, set())
        open_errors = any(p.severity == ERROR and not set(p.indicator.split(",")) <= checked for p in ret.problems)
        pending = flagged[ret.town] or open_errors
        status[ret.town] = REVIEW if pending else VERIFIED if checked else NORMAL
    return pd.Series(status, dtype=object)


class _NoBar:
    def update(self, n: int) -> None:
        pass


#: progress(label, total) returns a context manager whose value has ``update(n)``, as
#: click.progressbar does; the CLI passes one on a terminal, nothing otherwise.
ProgressFactory = Callable[[str, int], ContextManager]


def _phase(progress: ProgressFactory | None, label: str, total: int) -> ContextManager:
    return progress(label, total) if progress else nullcontext(_NoBar())


def _write_town_chunk(jobs: list[tuple], rules: Rules, reuse: ReuseContext) -> list[tuple]:
    return [
        reuse.reuse_or_write(path, page, previous, partial(write_town_workbook, path, rules, *page))
        for path, page, previous in jobs
    ]


def _write_review_chunk(jobs: list[tuple], rules: Rules) -> list[Path]:
    return [write_review_table(path, rules, *parts) for path, *parts in jobs]


def _write_request_chunk(jobs: list[tuple], rules: Rules, author: str, reuse: ReuseContext) -> list[tuple]:
    return [
        reuse.reuse_or_write(
            path, (request, author), previous, partial(feedback.write_request, path, rules, request, author)
        )
        for path, request, previous in jobs
    ]


def _reporting(slices, update: Callable[[int], None], rows_per_town: int):
    """The audit trail's slices, each reported (in towns) once written."""
    for frame in slices:
        yield frame
        update(len(frame) // rows_per_town)


def _town_jobs(chunk: list[int], pages: TownPages, paths: list[Path], cache: RunCache) -> list[tuple]:
    """(path, page, what the previous run made there) for a chunk of consecutive towns,
    made just before a worker needs it."""
    page_list = pages.pages(chunk[0], chunk[-1] + 1)
    return [(paths[t], page, cache.previous(paths[t])) for t, page in zip(chunk, page_list)]


class OutInInbox(ValueError):
    """--out is the inbox, inside it, or would replace it: the next run would read its own
    results back in as returns (or this one would delete what it reads)."""


def check_folders(inbox: Path, out_dir: Path) -> None:
    """Raises OutInInbox unless the results can be written without touching the inbox."""
    inbox, out_dir = inbox.resolve(), out_dir.resolve()
    if out_dir == inbox or inbox in out_dir.parents:
        raise OutInInbox(
            "结果目录（--out）不能是收件箱，也不能在收件箱里面：否则下次评分会把结果当作回报文件读进来；"
            "请换一个收件箱以外的目录，如 --out 结果"
        )
    if any(out_dir / name == inbox or out_dir / name in inbox.parents for name in RESULT_NAMES):
        raise OutInInbox(
            f"收件箱 {inbox} 在结果目录的“{inbox.relative_to(out_dir).parts[0]}”里，"
            "每次评分都会整个替换它：请把收件箱移到别处"
        )


def run_score(
    inbox: Path,
    towns: Path | pd.DataFrame,
    out_dir: Path,
    rules: Rules,
    options: ScoreOptions = ScoreOptions(),
    progress: ProgressFactory | None = None,
    review: Review | None = None,
) -> Report:
    """``towns``: the towns file, or the table already read from it (:func:`read_towns`);
    ``review``: a filled 核定表 (:func:`qz_excel.followup.review.read_review`), read before anything
    is written, so it may be the very 核定表 this run replaces.

    Results are written into a staging folder and published whole at the end
    (:class:`ResultsFolder`): whatever happens before, ``out_dir`` keeps the previous
    run's results. Raises ResultsBusy while another run writes into ``out_dir``."""
    clock = _Clock()
    check_folders(inbox, out_dir)
    if not isinstance(towns, pd.DataFrame):
        towns = read_towns(towns)
    files = intake.inbox_files(inbox)
    with ResultsFolder(out_dir, RESULT_NAMES) as results:
        # the 评分细则 writers are forked now, while this process is small (see Workers);
        # they run at a lower priority so the 汇总 workbook, written meanwhile here, keeps
        # its core
        with Workers(background=True) if len(files) >= MIN_PARALLEL else nullcontext(None) as writers:
            cache = RunCache(out_dir, results.staging, rules)
            report = _run(inbox, files, towns, results.staging, rules, options, progress, clock, writers, review, cache)
        cache.save()
        report.reused = cache.reused
        results.publish()
    report.outputs = [str(out_dir / Path(p).relative_to(results.staging)) for p in report.outputs]
    return report


def _run(inbox, files, towns, staging, rules, options, progress, clock, writers, review, cache) -> Report:
    with _phase(progress, "读取回报文件", len(files)) as bar:
        returns = cache.read_returns(files, [p.relative_to(inbox).as_posix() for p in files], rules, bar.update)
    accepted = intake.choose_among_duplicates(returns, list(towns["单位名称"]), rules)
    clock.lap("intake")

    values, notes = intake.values_frames(accepted, rules)
    self_texts = self_report_texts(rules, values)
    first = score(rules, values, notes)  # the self-reports as scored: the 初评
    applied = apply_review(review, rules, values, notes, self_texts, set(towns["单位名称"])) if review else None
    verified = applied if applied is not None and applied.records else None  # a review that changed something
    result = score(rules, verified.values, verified.notes) if verified else first
    reviewed = applied.reviewed if applied else {}
    by_town = {r.town: r for r in accepted}
    for p in _pair_problems(result, rules, by_town):
        by_town[p.town].problems.append(p)
    # a town with something to fix, less what the bureau has verified meanwhile
    requests = [
        req for r in accepted if (req := feedback.request_for(r, rules, skip=reviewed.get(r.town, set()))).fixes
    ]
    changes = [c for r in returns for c in r.changes]
    for ret in returns:  # their values now live in the frames; keep memory flat in N
        ret.release_values()
    status = town_statuses(accepted, result, reviewed)
    ranking = ranking_table(rules, towns, result, status, options.strict)
    last = options.last_year
    if last is not None:
        ranking = add_last_year(ranking, last)
    problems = [p for r in returns for p in r.problems] + (applied.problems if applied else [])
    problems += [Problem("NOT_RETURNED", town=t) for t in towns["单位名称"] if t not in by_town]
    pages = TownPages(
        rules,
        result,
        provisional={t for t, s in status.items() if s not in FINAL},
        notes=_last_year_notes(ranking) if last is not None else None,
    )
    info = ReportInfo(
        maker=options.maker,
        made_on=options.made_on,
        bonuses=result.counted_bonus(),
        stage=VERIFIED_STAGE if verified else INITIAL,
    )
    review_rows = review_records(rules, applied, first, result) if applied else None
    hints = review_hints(rules, first, values, notes)
    del notes  # in the explanations now
    clock.lap("scoring")
    # 核定表 is one long sheet (a row per town × indicator): one worker writes it from the
    # start, the other takes the 评分细则, while this process writes 汇总.xlsx
    review_table = Chunks(
        _write_review_chunk,
        [
            (
                staging / REVIEW_NAME,
                self_texts,
                hints,
                applied.carried if applied else {},
                applied.stray if applied else [],
            )
        ],
        rules,
        workers=writers,
        min_parallel=1 if writers else 2,  # small runs: written here, at results()
    )

    town_dir = staging / TOWN_DIR
    town_dir.mkdir()
    taken: set[str] = {f"{RANKING_PDF}.xlsx".lower()}  # its PDF shares the pdf/ folder
    paths = [unique_path(town_dir, safe_file_stem(town), ".xlsx", taken) for town in pages.towns]
    # the town sheets go to worker processes while this one writes 汇总.xlsx (on its own
    # core: that workbook is the longest single task); their pages are made a chunk at
    # a time, as workers become free
    reuse = cache.reuse_context()
    town_sheets = Chunks(
        _write_town_chunk,
        range(len(pages)),
        rules,
        reuse,
        workers=writers,
        prepare=partial(_town_jobs, pages=pages, paths=paths, cache=cache),
    )
    request_sheets = Chunks(
        _write_request_chunk, _request_jobs(staging, requests, cache), rules, options.maker, reuse, workers=writers
    )
    files_table = pd.DataFrame(
        [
            {
                "文件": r.file,
                "状态": r.status,
                "单位名称": r.town,
                "说明": r.reason or counted([p.code for p in r.problems]),
            }
            for r in returns
        ],
        columns=["文件", "状态", "单位名称", "说明"],
    )
    with _phase(progress, "生成汇总表", len(pages)) as bar:
        reviewed_values = verified.values.where(reviewed_mask(values, reviewed)) if verified else None
        trail = _reporting(
            audit_trail(rules, result.details, values, reviewed_values), bar.update, len(rules.subrules())
        )
        summary_path = write_summary(
            staging / SUMMARY_NAME,
            rules,
            ranking,
            trail,
            problems_frame(problems),
            files_table,
            pages if options.per_town_sheets else (),
            info,
            changes_frame(changes),
            review_rows,
            year_on_year(ranking, [i.header for i in rules.items], last) if last is not None else None,
        )
    clock.lap("summary")
    with _phase(progress, "生成评分细则", len(pages)) as bar:
        made = town_sheets.results(bar.update)
    cache.record("评分细则", made)
    town_files = {town: path for town, (path, *_) in zip(pages.towns, made)}
    clock.lap("town_sheets")
    with _phase(progress if requests else None, "生成修改通知（反馈）", len(requests)) as bar:
        made = request_sheets.results(bar.update)
    cache.record("反馈", made)
    request_files: list[Path] = [path for path, *_ in made]
    clock.lap("feedback")
    review_table.results()
    clock.lap("review_table")
    outputs = (
        [str(summary_path), str(staging / REVIEW_NAME)]
        + [str(p) for p in town_files.values()]
        + [str(p) for p in request_files]
    )
    if options.pdf:
        pdfs, failed = export_pdfs(staging, rules, ranking, town_files, info)
        outputs.extend(pdfs)
        problems.extend(Problem("PDF_FAILED", file=name) for name in failed)
        clock.lap("pdf")
    return Report(
        files=files_table,
        problems=problems,
        summary=ranking,
        outputs=outputs,
        warnings=check_rules(rules),
        timings=clock.laps,
        changes=changes,
        requests={req.town: str(p) for req, p in zip(requests, request_files)},
        reviews=review_rows,
    )


def _request_jobs(staging: Path, requests: list[feedback.Request], cache: RunCache) -> list[tuple]:
    """反馈/<单位名称>.xlsx for each request, with what the previous run made there; no
    folder when no town has anything to fix."""
    if not requests:
        return []
    folder = staging / FEEDBACK_DIR
    folder.mkdir()
    taken: set[str] = set()
    paths = [unique_path(folder, safe_file_stem(r.town), ".xlsx", taken) for r in requests]
    return [(path, r, cache.previous(path)) for path, r in zip(paths, requests)]


class _Clock:
    def __init__(self):
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = now - self._last
        self._last = now


def export_pdfs(
    out_dir: Path, rules: Rules, ranking: pd.DataFrame, town_files: dict[str, Path], info: ReportInfo = ReportInfo()
) -> tuple[list[str], list[str]]:
    """汇总排名 and each 评分细则 as PDF in DIR/pdf/, plus the booklet of the 评分细则 in
    ranking order (:mod:`qz_excel.results.booklet`). Returns (PDFs written, names of what
    LibreOffice did not print)."""
    from pypdf import PdfReader

    pdf_dir = out_dir / PDF_DIR
    with tempfile.TemporaryDirectory(prefix=".qz-", dir=out_dir) as tmp:
        ranking_book = write_ranking_print(Path(tmp) / f"{RANKING_PDF}.xlsx", rules, ranking, info)
        sources = [ranking_book] + [town_files[t] for t in ranking["单位名称"] if t in town_files]
        converted, failed = office.convert(sources, "pdf", pdf_dir)
        by_stem = {p.stem: p for p in converted}
        written = [str(by_stem[src.stem]) for src in sources if src.stem in by_stem]
        failed_names = [src.name for src in failed]
        ranks = dict(zip(ranking["单位名称"], ranking["排名"]))
        entries = [
            Entry(
                "" if pd.isna(ranks[t]) else str(int(ranks[t])),
                t,
                by_stem[town_files[t].stem],
                len(PdfReader(by_stem[town_files[t].stem]).pages),
            )
            for t in ranking["单位名称"]
            if t in town_files and town_files[t].stem in by_stem
        ]
        if entries:
            try:
                written.append(str(build_booklet(pdf_dir / BOOKLET_NAME, rules, info, entries, Path(tmp))))
            except BookletFailed:
                failed_names.append(BOOKLET_NAME)
    return written, failed_names


__all__ = [
    "run_score",
    "check_folders",
    "OutInInbox",
    "ScoreOptions",
    "ranking_table",
    "competition_rank",
    "export_pdfs",
]
