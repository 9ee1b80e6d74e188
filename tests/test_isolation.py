import subprocess
import sys

from _isolation_helpers import failed, misbehave

from qz_excel.common.parallel import map_isolated


def test_abort_hang_and_memory_hog_cost_one_item_each():
    items = ["a", "abort", "b", "hang", "c", "hog", "d"]
    got = map_isolated(misbehave, items, on_failure=failed, item_timeout=3, chunk_size=2, memory_mb=1024)
    assert got == ["A", "abort:crash", "B", "hang:timeout", "C", "hog:crash", "D"]


def test_calamine_far_cell_is_why_we_check_first(tmp_path):
    """Documents the hazard the pre-parse bounds check exists for: reading a sheet with
    cells at A1 and XFD1048576 allocates the whole grid. Run in a child process with a
    512 MiB cap: it must fail there (abort or MemoryError), never succeed cheaply."""
    import xlsxwriter

    path = tmp_path / "far.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet()
    ws.write(0, 0, "x")
    ws.write(1048575, 16383, "y")
    wb.close()
    code = (
        "import resource, python_calamine as pc;"
        "resource.setrlimit(resource.RLIMIT_AS, (512 * 2**20, resource.RLIM_INFINITY));"
        f"pc.CalamineWorkbook.from_path({str(path)!r}).get_sheet_by_index(0).to_python()"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert result.returncode != 0
