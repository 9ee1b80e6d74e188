"""The benchmark script runs (tiny N) so it cannot rot; its figures are not asserted."""

import subprocess
import sys

from conftest import REPO


def test_benchmark_runs_small():
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run.py"), "--score-towns", "20",
                             "--templates", "2", "--repeat", "1"], capture_output=True, text=True,
                            encoding="utf-8", timeout=300)
    assert result.returncode == 0, result.stderr
    assert "engine/floor" in result.stdout and "ours/bare" in result.stdout
