"""The command line as a clerk meets it: Chinese throughout (click's own words too), quick
to start, every option value checked with a Chinese message."""

from __future__ import annotations

import re
import subprocess
import sys
from email import message_from_bytes, policy

import pytest
from click.testing import CliRunner
from conftest import REPO

from qz_excel.cli.commands import main
from qz_excel.intake.read import read_meta

SAMPLES = REPO / "sample_workbooks"
ENGLISH = re.compile(
    r"Usage|Options|Commands|Error|Show this|Missing|Invalid|Did you mean|required|default:|"
    r"version|Aborted|TEXT|PATH|INTEGER|FLOAT|DIRECTORY|FILENAME"
)


def run(*args, **kwargs):
    return CliRunner().invoke(main, [str(a) for a in args], prog_name="qz", **kwargs)


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["score", "--help"],
        ["template", "--help"],
        ["mail", "--help"],
        ["rules", "--help"],
        ["rules", "check", "--help"],
    ],
)
def test_help_is_chinese(args):
    result = run(*args)
    assert result.exit_code == 0
    assert result.output.startswith("用法： qz") and "选项" in result.output
    assert not ENGLISH.search(result.output.replace("--version", "")), result.output


@pytest.mark.parametrize(
    "args, words",
    [
        (["score", "--tonws", "x"], ["没有 --tonws 这个选项", "是不是", "--towns"]),
        (["score"], ["缺少收件箱", "qz init"]),  # outside a campaign folder
        (["score", str(SAMPLES / "returned")], ["缺少单位名单", "--towns", "qz init"]),
        (["mail", "x", "--towns", "y", "--security", "abc"], ["--security", "的值不对", "只能是其中之一"]),
        (["bogus"], ["没有 bogus 这个命令"]),
        (
            ["template", "--towns", str(SAMPLES / "towns.csv"), "--out", "x", "--generated-at", "abc"],
            ["--generated-at", "“abc”不是有效日期", "2010年12月1日"],
        ),
        (
            [
                "score",
                str(SAMPLES / "returned"),
                "--towns",
                str(SAMPLES / "towns.csv"),
                "--out",
                "x",
                "--made-on",
                "2010-13-01",
            ],
            ["“2010-13-01”不是有效日期"],
        ),
        (["mail", "x", "--towns", "y", "--timeout", "0"], ["--timeout", "不在允许的范围内"]),
    ],
)
def test_usage_errors_are_chinese(args, words):
    result = run(*args)
    assert result.exit_code == 2
    for word in words:
        assert word in result.output, result.output
    assert "错误：" in result.output and not ENGLISH.search(result.output), result.output


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and re.fullmatch(r"qz 版本 \d+\.\d+\.\d+\n", result.output)


@pytest.mark.parametrize("typed", ["2010-12-01", "2010/12/01", "2010年12月1日", "2010.12.1"])
def test_dates_as_a_clerk_types_them(tmp_path, typed):
    out = tmp_path / "模板"
    result = run("template", "--towns", SAMPLES / "towns.csv", "--out", out, "--generated-at", typed)
    assert result.exit_code == 0, result.output
    assert {read_meta(p)["generated_at"] for p in out.glob("*.xlsx")} == {"2010-12-01"}


def test_a_dry_run_never_shows_a_made_up_address(tmp_path):
    out = tmp_path / "模板"
    assert run("template", "--towns", SAMPLES / "towns.csv", "--out", out).exit_code == 0
    result = run("mail", out, "--towns", SAMPLES / "towns.csv")
    assert "发送时用 --sender 或 --user 写上发件邮箱" in result.output
    drafts = list((out / "mail").glob("*.eml"))
    assert drafts
    for draft in drafts:
        raw = draft.read_bytes()
        assert b"example.invalid" not in raw and b"@example.invalid" not in raw
        assert str(message_from_bytes(raw, policy=policy.default)["From"]) == "县质量技术监督局"


def test_importing_the_cli_loads_neither_pandas_nor_numpy():
    """`qz --help` must answer at once: the heavy libraries are imported where used."""
    code = (
        "import sys, qz_excel.cli.commands, qz_excel.__main__; "
        "heavy = [m for m in ('pandas', 'numpy', 'pydantic', 'jinja2', 'xlsxwriter', 'openpyxl', 'starlette', 'uvicorn', 'imaplib') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    heavy = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert heavy == ""


def test_rules_check_does_not_run_pandas_or_numpy():
    """`qz rules check` validates the rules file without executing the scoring libraries
    (they are registered lazily and loaded on first use)."""
    code = (
        "import sys, types\nfrom qz_excel.cli.commands import run\n"
        "try:\n    run(['rules', 'check'])\nexcept SystemExit:\n    pass\n"
        "print('loaded:' + ','.join(m for m in ('pandas', 'numpy') if type(sys.modules.get(m)) is types.ModuleType))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "2010 年" in out.stdout and out.stdout.strip().splitlines()[-1] == "loaded:", out.stdout + out.stderr


def test_an_interrupt_caught_inside_a_string_exec_still_exits_130_under_dash_m(tmp_path):
    """CPython remembers a KeyboardInterrupt that ended a string exec (dataclasses and pydantic
    build methods that way while a command imports them) even once it is caught, and under
    `python -m` kills itself with SIGINT after exiting. The command's ending clears it."""
    (tmp_path / "interrupted.py").write_text(
        "import sys\n"
        "from qz_excel.cli.commands import _done\n"
        "try:\n"
        "    exec('raise KeyboardInterrupt')\n"
        "except KeyboardInterrupt:\n"
        "    _done()\n"
        "    sys.exit(130)\n",
        encoding="utf-8",
    )
    result = subprocess.run([sys.executable, "-m", "interrupted"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 130, result.stderr
