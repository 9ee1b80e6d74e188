"""The benchmark script runs (tiny N) so it cannot rot; its figures are not asserted."""

import subprocess
import sys

from conftest import REPO


def test_benchmark_runs_small():
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "run.py"),
            "--n",
            "20",
            "--score-towns",
            "20",
            "--repeat",
            "1",
            "--naive-sample",
            "3",
        ],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    for ratio in (
        "engine/floor",
        "ours/bare",
        "ours/floor",
        "on one core",
        "all-outputs floor",
        "rerun/full",
        "naive/ours",
        "MiB",
        "main process",
    ):
        assert ratio in result.stdout, ratio
