import pytest
import xlsxwriter

from qz_excel.towns import TownsError, read_towns

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


@pytest.mark.parametrize("text, message", [
    ("名称\n甲\n", "缺少“单位名称”列"), ("单位名称\n甲\n甲\n", "单位名称重复：甲"), ("单位名称\n", "没有任何单位"),
])
def test_bad_towns(tmp_path, text, message):
    path = tmp_path / "t.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TownsError, match=message):
        read_towns(path)


def test_missing_file(tmp_path):
    with pytest.raises(TownsError, match="找不到"):
        read_towns(tmp_path / "nope.csv")
