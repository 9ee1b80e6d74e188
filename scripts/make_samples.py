"""Regenerate sample_workbooks/ from the real template (run after changing the rules file).

python scripts/make_samples.py
"""

from pathlib import Path

from qz_excel.rules.ruleset import load_rules
from qz_excel.template.samples import make_samples

if __name__ == "__main__":
    out = Path(__file__).resolve().parent.parent / "sample_workbooks"
    for path in make_samples(load_rules(), out):
        print(path.relative_to(out.parent))
