import pytest
import xlsxwriter

from qz_excel.common.towns import TownsError, read_towns

CSV = "单位名称,类别,联系人,邮箱\n城关镇,镇,张明,a@example.com\n　南山街道 ,街道,,\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_encodings(tmp_path, encoding):
    path = tmp_path / "towns.csv"
    path.write_bytes(CSV.encode(encoding))
    towns = read_towns(path)
    assert list(towns["单位名称"]) == ["城关镇", "南山街道"]
    assert list(towns["邮箱"]) == ["a@example.com", ""]


def test_xlsx_towns_even_when_renamed(tmp_path):
    path = tmp_path / "towns.csv"  # an .xlsx saved under a .csv name: decided by content
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet()
    ws.write_row(0, 0, ["单位名称", "类别"])
    ws.write_row(1, 0, ["城关镇", "镇"])
    ws.write_row(2, 0, ["高新区", "园区"])
    wb.close()
    towns = read_towns(path)
    assert list(towns["单位名称"]) == ["城关镇", "高新区"] and list(towns["联系人"]) == ["", ""]


def test_only_name_column_needed(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("单位名称\n甲\n\n乙\n", encoding="utf-8")
    assert list(read_towns(path)["单位名称"]) == ["甲", "乙"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("区县\n甲\n", "找不到“单位名称”列.*找到的列有：区县"),
        ("单位名称\n甲\n甲\n", "单位名称重复：甲"),
        ("单位名称\n", "没有任何单位"),
    ],
)
def test_bad_towns(tmp_path, text, message):
    path = tmp_path / "t.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TownsError, match=message):
        read_towns(path)


def test_missing_file(tmp_path):
    with pytest.raises(TownsError, match="找不到"):
        read_towns(tmp_path / "nope.csv")


def test_a_list_kept_in_excel_with_a_title_and_merged_cells(tmp_path):
    """A title merged across the top, a blank row, the name column called 镇（街道）名称,
    a 类别 merged over two towns, numbers typed as numbers, a row with no name."""
    path = tmp_path / "名单.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet()
    ws.merge_range(0, 0, 0, 4, "2010年各镇街道园区名单")
    ws.write_row(2, 0, ["序号", "镇（街道）名称", "类别", "联系人", "电子邮箱"])
    ws.write_row(3, 0, [1, "城关镇"])
    ws.merge_range(3, 2, 4, 2, "镇")
    ws.write_row(3, 3, ["张明", "a@example.com"])
    ws.write_row(4, 0, [2, "青石镇"])
    ws.write_row(4, 3, ["李华"])
    ws.write_row(5, 0, [3, None, 1])
    ws.write_row(6, 0, [4, "开发区", 3])
    wb.close()
    towns = read_towns(path)
    assert list(towns["单位名称"]) == ["城关镇", "青石镇", "开发区"]
    assert list(towns["类别"]) == ["镇", "镇", "3"]  # merged over both towns; 3, not 3.0
    assert list(towns["邮箱"]) == ["a@example.com", "", ""]
    notes = towns.attrs["notes"]
    assert "以“镇（街道）名称”列作为“单位名称”" in notes[0] or "以“镇(街道)名称”列作为“单位名称”" in notes[0]
    assert any("第 6 行没有单位名称" in n for n in notes)


@pytest.mark.parametrize("header", ["单位", "镇（街道）", "乡镇", "名称", "单位名称 "])
def test_common_names_of_the_name_column(tmp_path, header):
    path = tmp_path / "t.csv"
    path.write_text(f"{header},邮箱\n甲镇,a@b.cn\n", encoding="utf-8")
    assert list(read_towns(path)["单位名称"]) == ["甲镇"]


def test_a_near_miss_is_suggested(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("单位明称,类别\n甲镇,镇\n", encoding="utf-8")
    with pytest.raises(TownsError, match="找到的列有：单位明称、类别。是“单位明称”吗"):
        read_towns(path)
