"""A run into an existing results folder reuses what cannot have changed (results.cache),
and its results are the same bytes a run into an empty folder writes: after random
changes to the inbox, a review, a rules change, a new program version, a result saved
over by hand, and a damaged or planted cache."""

from __future__ import annotations

import os
import pickle
import random
import shutil
from pathlib import Path

import openpyxl
import pytest
from conftest import REPO, result_digests

from qz_excel.followup.review import read_review
from qz_excel.pipeline import run_score
from qz_excel.results import cache
from qz_excel.rules.ruleset import load_rules
from qz_excel.template.samples import GOOD
from qz_excel.template.writer import TemplateOptions, write_template

TOWNS = [f"复评镇{k:02d}" for k in range(14)]


def _write(rules, inbox: Path, town: str, name: str, values: dict) -> None:
    write_template(rules, town, inbox / name, TemplateOptions(generated_at="2010-12-01"), prefill=values)


def _values(rng: random.Random, broken: bool) -> dict:
    values = {**GOOD, "r1_meetings": rng.randint(0, 5), "r6_food_pass_rate": rng.choice([0.9, 0.95, 1, "98%"])}
    if broken:  # something the town must correct: a 反馈 workbook
        values[rng.choice(["r1_meetings", "r10_info_reports"])] = rng.choice([None, "很多"])
    return values


@pytest.fixture
def campaign(tmp_path, rules):
    rng = random.Random(3)
    inbox = tmp_path / "收件箱"
    for k, town in enumerate(TOWNS[:-1]):  # the last town has not reported
        _write(rules, inbox, town, f"{town}.xlsx", _values(rng, broken=k % 4 == 0))
    towns = tmp_path / "towns.csv"
    towns.write_text("单位名称\n" + "\n".join(TOWNS) + "\n", encoding="utf-8")
    return inbox, towns


def _same_as_a_full_run(tmp_path, inbox, towns, out, rules, **kw):
    """Score into ``out`` (which holds an earlier run) and into an empty folder: the two
    results folders hold the same files, byte for byte. Returns the rerun's Report."""
    report = run_score(inbox, towns, out, rules, **kw)
    fresh = tmp_path / f"全新{len(list(tmp_path.glob('全新*')))}"
    run_score(inbox, towns, fresh, rules, **kw)
    assert result_digests(out) == result_digests(fresh)
    assert (out / cache.CACHE_DIR / cache.MANIFEST).is_file()
    return report


def test_random_changes_reuse_the_rest_and_change_nothing(tmp_path, campaign, rules):
    inbox, towns = campaign
    out = tmp_path / "结果"
    first = run_score(inbox, towns, out, rules)
    assert first.reused == {"回报文件": 0}
    written = len(first.requests)
    rng = random.Random(11)
    for round_ in range(3):
        files = sorted(inbox.iterdir())
        changed = rng.sample(files, 2)
        for path in changed:  # a corrected file comes back under the same name
            _write(rules, inbox, path.stem, path.name, _values(rng, broken=rng.random() < 0.5))
        touched = rng.choice([f for f in files if f not in changed])
        os.utime(touched, (1e9, 1e9))  # copied again: a new time, the same content
        extra = TOWNS[rng.randrange(len(TOWNS))]
        _write(rules, inbox, extra, f"{extra}（第{round_}次修改）.xlsx", _values(rng, broken=False))
        report = _same_as_a_full_run(tmp_path, inbox, towns, out, rules)
        files_now = len(list(inbox.iterdir()))
        assert report.reused["回报文件"] == files_now - 3  # two changed, one new
        assert report.reused["评分细则"] >= len(TOWNS) - 1 - 5
    assert written  # the inbox had towns to correct, so 反馈 reuse was exercised
    assert "反馈" in report.reused


def test_a_review_rewrites_what_it_touches(tmp_path, campaign, rules):
    inbox, towns = campaign
    out = tmp_path / "结果"
    run_score(inbox, towns, out, rules)
    table = tmp_path / "核定表.xlsx"
    wb = openpyxl.load_workbook(out / "核定表.xlsx")
    ws = wb["核定"]
    header = [c.value for c in ws[1]]
    for row in ws.iter_rows(min_row=2):
        if row[header.index("单位名称")].value == TOWNS[1] and row[header.index("指标代码")].value == "r1_meetings":
            row[header.index("核定值")].value = 0
            row[header.index("核定理由")].value = "会议记录不全"
            row[header.index("核定人")].value = "王五"
    wb.save(table)
    review = read_review(table, rules)
    report = _same_as_a_full_run(tmp_path, inbox, towns, out, rules, review=review)
    assert report.reused["回报文件"] == len(TOWNS) - 1
    assert report.reused["评分细则"] == len(TOWNS) - 2  # the reviewed town's is written anew


def test_a_rules_change_and_a_new_program_invalidate_everything(tmp_path, campaign, rules, monkeypatch):
    inbox, towns = campaign
    out = tmp_path / "结果"
    run_score(inbox, towns, out, rules)
    text = (REPO / "templates" / "rules" / "2010.yaml").read_text(encoding="utf-8")
    changed = tmp_path / "2010-改.yaml"
    changed.write_text(text.replace("质量振兴", "质量强县", 1), encoding="utf-8")
    other = load_rules(changed)
    assert other.fingerprint != rules.fingerprint
    report = _same_as_a_full_run(tmp_path, inbox, towns, out, other)
    assert report.reused == {"回报文件": 0}
    monkeypatch.setattr(cache, "program_fingerprint", lambda: "下一个版本")
    report = _same_as_a_full_run(tmp_path, inbox, towns, out, other)
    assert report.reused == {"回报文件": 0}
    report = _same_as_a_full_run(tmp_path, inbox, towns, out, other)  # and now it is reused again
    assert report.reused["评分细则"] == len(TOWNS) - 1  # every town that reported


def test_a_result_saved_over_by_hand_is_written_again(tmp_path, campaign, rules):
    inbox, towns = campaign
    out = tmp_path / "结果"
    run_score(inbox, towns, out, rules)
    sheet = out / "评分细则" / f"{TOWNS[2]}.xlsx"
    wb = openpyxl.load_workbook(sheet)
    wb.active["A1"] = "改过"
    wb.save(sheet)
    report = _same_as_a_full_run(tmp_path, inbox, towns, out, rules)
    assert report.reused["评分细则"] == len(TOWNS) - 2  # every town that reported, but that one


class _Planted:
    def __reduce__(self):
        return (Path("/tmp/qz-planted").touch, ())


@pytest.mark.parametrize("damage", ["garbage", "planted", "foreign"])
def test_a_damaged_or_planted_cache_is_only_work_done_again(tmp_path, campaign, rules, damage):
    inbox, towns = campaign
    out = tmp_path / "结果"
    run_score(inbox, towns, out, rules)
    records = out / cache.CACHE_DIR / cache.INTAKE
    if damage == "garbage":
        records.write_bytes(b"\x80\x05not a pickle")
    elif damage == "planted":  # someone with write access to a shared folder
        blobs = pickle.loads(records.read_bytes())
        records.write_bytes(pickle.dumps({k: pickle.dumps(_Planted()) for k in blobs}))
    else:
        records.write_bytes(pickle.dumps(_Planted()))
    Path("/tmp/qz-planted").unlink(missing_ok=True)
    report = _same_as_a_full_run(tmp_path, inbox, towns, out, rules)
    assert not Path("/tmp/qz-planted").exists()
    assert report.reused["回报文件"] == 0


def test_many_towns_through_the_worker_processes(tmp_path, big_inbox, rules):
    """120 towns: the 评分细则 are written (or taken over) in worker processes."""
    inbox, towns_csv, towns = big_inbox
    work = tmp_path / "收件箱"
    shutil.copytree(inbox, work)
    out = tmp_path / "结果"
    run_score(work, towns_csv, out, rules)
    values = {**GOOD, "r1_meetings": 9}
    _write(rules, work, towns[5], f"{towns[5]}.xlsx", values)
    report = _same_as_a_full_run(tmp_path, work, towns_csv, out, rules)
    assert report.reused["回报文件"] == len(towns) - 1
    assert report.reused["评分细则"] == len(towns) - 1


def test_the_console_says_what_was_reused(tmp_path, campaign):
    from click.testing import CliRunner

    from qz_excel.cli.commands import main

    inbox, towns = campaign
    args = ["score", str(inbox), "--towns", str(towns), "--out", str(tmp_path / "结果")]
    first = CliRunner().invoke(main, args)
    assert "未重新读取" not in first.output
    again = CliRunner().invoke(main, args)
    assert f"未重新读取的文件 {len(TOWNS) - 1} 个" in again.output
    assert f"评分细则 {len(TOWNS) - 1} 份" in again.output
