"""The README a clerk reads first: the two set-up commands come first, and CI runs the second."""

import re

from conftest import REPO

INSTALL_AND_RUN = (
    "python -m pip install . && qz score sample_workbooks/returned --towns sample_workbooks/towns.csv --out results"
)
INSTALL_AND_TEST = 'python -m pip install ".[test]" && python -m pytest'


def test_the_two_set_up_commands_come_first_and_ci_runs_the_second():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```\n(.*?)\n```", readme, re.S)
    assert blocks[:2] == [INSTALL_AND_RUN, INSTALL_AND_TEST]
    assert INSTALL_AND_TEST in (REPO / ".ci" / "run").read_text(encoding="utf-8")


def test_the_clerks_part_is_chinese_and_every_picture_exists():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    clerks_part = readme.split("## Development")[0]
    prose = re.sub(r"```.*?```|`[^`]*`|\([^)]*\.png\)|\|[^\n]*\|", "", clerks_part, flags=re.S)
    chinese = sum("\u4e00" <= ch <= "\u9fff" for ch in prose)
    latin = sum(ch.isascii() and ch.isalpha() for ch in prose)
    assert chinese > 5 * latin, (chinese, latin)
    for picture in re.findall(r"\((docs/[^)]+\.png)\)", readme):
        assert (REPO / picture).is_file(), picture
