"""The stages' import contract (pyproject's [tool.importlinter]): kept by the package as it
is, broken by one upward import, so CI's `lint-imports` would stop it from landing."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(tree: Path) -> subprocess.CompletedProcess:
    # the copy's package comes first on the path, so grimp analyses it, not the installed one
    env = {"PATH": str(LINT_IMPORTS.parent), "PYTHONPATH": str(tree), "HOME": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def package_copy(tmp_path):
    shutil.copytree(ROOT / "qz_excel", tmp_path / "qz_excel", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_package_keeps_its_layers(package_copy):
    result = _lint(package_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Stages import only downward KEPT" in result.stdout


@pytest.mark.parametrize(
    ("module", "upward"),
    [
        ("scoring/engine.py", "from qz_excel.cli import commands"),  # the engine reaching for the CLI
        ("rules/kinds.py", "from qz_excel.intake import read"),  # the language reaching for intake
        ("common/files.py", "from qz_excel.rules import ruleset"),  # a plain module knowing a stage
    ],
)
def test_an_upward_import_breaks_the_contract(package_copy, module, upward):
    path = package_copy / "qz_excel" / module
    # inside a function, as the lazy imports are: those count too
    path.write_text(path.read_text(encoding="utf-8") + f"\n\ndef _upward():\n    {upward}\n", encoding="utf-8")
    result = _lint(package_copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Stages import only downward BROKEN" in result.stdout
    importer = "qz_excel." + module.removesuffix(".py").replace("/", ".")
    assert importer in result.stdout
