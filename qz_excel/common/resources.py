"""Where the bundled rules files and jinja2 templates are.

In a wheel they sit inside the package (``qz_excel/templates``, put there by hatch's
force-include); in a source checkout they are the repo's top-level ``templates/``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent  # qz_excel/


def templates_dir() -> Path:
    for candidate in (_PACKAGE / "templates", _PACKAGE.parent / "templates"):
        if (candidate / "rules").is_dir():
            return candidate
    raise FileNotFoundError("找不到 templates/ 目录：请用 pip install 重新安装 qz-excel")


def bundled_years() -> list[int]:
    return sorted(int(p.stem) for p in (templates_dir() / "rules").glob("*.yaml") if p.stem.isdigit())


def rules_path(year: int | None = None) -> Path:
    """The bundled rules file for ``year`` (default: the latest bundled year)."""
    years = bundled_years()
    if not years:
        raise FileNotFoundError("templates/rules/ 中没有规则文件")
    year = years[-1] if year is None else year
    path = templates_dir() / "rules" / f"{year}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"没有 {year} 年的规则文件；已有：{', '.join(map(str, years))}")
    return path


def bundled_rules() -> dict[str, Path]:
    """Every rules file shipped with qz by its name: the years (「2010」) and the examples
    (「2016-example」), so `--rules 2016-example` works wherever qz is installed."""
    folder = templates_dir() / "rules"
    return {p.stem: p for p in sorted([*folder.glob("*.yaml"), *folder.glob("examples/*.yaml")])}
