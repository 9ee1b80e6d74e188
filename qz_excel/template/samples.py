"""Filled returned workbooks for the bundled `sample_workbooks/` and for tests.

A filled workbook is made the way a town makes one: the real template from `qz template`,
values typed into its value cells (openpyxl stands in for Excel), saved under a name the
town chose. Together the samples exercise every rule kind: a veto, bonuses above 标准分,
不适用 rates, 99.5 %, percentages typed as text, item 5's cap, empty and invalid cells.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import openpyxl
import pandas as pd

from qz_excel.rules.ruleset import Rules
from qz_excel.template import form
from qz_excel.template.writer import TemplateOptions, write_template

#: a town that did everything right, with canonical values (fractions for percent cells)
GOOD = {
    "r1_dedicated_staff": "是",
    "r1_meetings": 2,
    "r1_coordinators": 1,
    "r1_annual_plan": "是",
    "r1_accountability": "是",
    "r2_brand_plan": "是",
    "r2_brand_reward_policy": "是",
    "r2_brand_applications": 2,
    "r2_brand_target": 1,
    "r2_new_prov_brands": 0,
    "r2_new_city_brands": 1,
    "r3_excellence_training_rate": 0.92,
    "r3_credit_eval_rate": 0.6,
    "r3_new_prov_quality_awards": 0,
    "r3_new_city_quality_awards": 0,
    "r4_standardization": "是",
    "r4_adoption_task_done": "是",
    "r4_new_std_pilots": 0,
    "r4_national_std_drafters": 0,
    "r4_industry_std_drafters": 0,
    "r5_mandatory_verification": "是",
    "r5_supervision_support": "是",
    "r5_confirmation_done": "是",
    "r5_two_free_controlled": "否",
    "r5_prov_demo_units": 0,
    "r6_supervision_network": "是",
    "r6_license_pass_rate": 0.95,
    "r6_food_pass_rate": 0.93,
    "r6_rectification_rate": 1,
    "r6_licensed_failures": 0,
    "r6_refusals": 0,
    "r6_responsibility": "是",
    "r6_major_accident": "否",
    "r7_responsibility": "是",
    "r7_liaison": "是",
    "r7_verified_leads": 0,
    "r7_major_case": "否",
    "r8_network": "是",
    "r8_registration_rate": 1,
    "r8_inspection_rate": 1,
    "r8_certified_rate": 1,
    "r9_accident_ledger": "是",
    "r9_timely_reporting": "是",
    "r9_classified_inspection": "是",
    "r9_units_total": 40,
    "r9_units_in_ledger": 40,
    "r10_trainings": 2,
    "r10_info_reports": 5,
}

#: (town, 类别, 联系人, 邮箱, file name as returned or None if not returned, overrides, filler)
SAMPLE_TOWNS: list[tuple[str, str, str, str, str | None, dict[str, object], str]] = [
    (
        "城关镇",
        "镇",
        "张明",
        "chengguan@example.com",
        "城关镇质量考核（已填）.xlsx",
        {
            # bonuses above 标准分: brands beyond the target, quality awards, pilots, leads
            "r2_brand_target": 2,
            "r2_new_prov_brands": 3,
            "r2_new_city_brands": 2,
            "r3_new_prov_quality_awards": 1,
            "r3_new_city_quality_awards": 2,
            "r4_new_std_pilots": 1,
            "r4_national_std_drafters": 1,
            "r7_verified_leads": 2,
            "r5_two_free_controlled": "是",
        },
        "张明",
    ),
    (
        "青石镇",
        "镇",
        "李华",
        "qingshi@example.com",
        "2010年质量振兴考核填报表_青石镇.xlsx",
        {
            # veto: a major quality accident (item 6) and a major counterfeiting case whose
            # item also had bonus leads (item 7): both items score 0, bonus included
            "r6_major_accident": "是",
            "r7_major_case": "是",
            "r7_verified_leads": 3,
        },
        "李华",
    ),
    (
        "白沙镇",
        "镇",
        "王芳",
        "baisha@example.com",
        "baisha.xlsx",
        {
            # nothing to measure: 不适用 rates and no units with special equipment
            "r3_excellence_training_rate": "不适用",
            "r3_credit_eval_rate": "无",
            "r6_rectification_rate": "/",
            "r8_registration_rate": "不适用",
            "r9_units_total": 0,
            "r9_units_in_ledger": 0,
        },
        "王芳",
    ),
    (
        "临河镇",
        "镇",
        "赵强",
        "linhe@example.com",
        "临河镇.xlsx",
        {
            # special-equipment rates just below 100 %: 99.5 → −1, 98.2 (percent units) → −2,
            # "99%" typed as text → −1
            "r8_registration_rate": 0.995,
            "r8_inspection_rate": 98.2,
            "r8_certified_rate": "99%",
            "r9_units_total": 40,
            "r9_units_in_ledger": 37,
        },
        "赵强",
    ),
    (
        "南山街道",
        "街道",
        "孙丽",
        "nanshan@example.com",
        "南山街道-质量振兴.xlsx",
        {
            # non-canonical forms the parser accepts and notes
            "r3_excellence_training_rate": "98.5%",
            "r6_food_pass_rate": "９２％",
            "r1_meetings": "3次",
            "r10_info_reports": "２条",
            "r1_dedicated_staff": "√",
            "r2_brand_plan": "有",
            "r4_standardization": "Y",
        },
        "孙丽",
    ),
    (
        "北湖街道",
        "街道",
        "周杰",
        "beihu@example.com",
        "北湖街道.xlsx",
        {
            # item 5: base sub-rules add to 11, capped at 10, then +2 for demo units
            "r5_two_free_controlled": "是",
            "r5_prov_demo_units": 2,
        },
        "周杰",
    ),
    (
        "东港街道",
        "街道",
        "吴敏",
        "donggang@example.com",
        "东港街道报表.xlsx",
        {
            # empty and invalid cells: scored, earning 0 there, and marked 待核实
            "r1_annual_plan": None,
            "r3_credit_eval_rate": None,
            "r7_liaison": "是的",
            "r10_trainings": 2.5,
            "r9_units_in_ledger": 45,
        },
        "吴敏",
    ),
    (
        "经济开发区管委会",
        "园区",
        "郑伟",
        "kaifaqu@example.com",
        "开发区.xlsx",
        {
            # deductions and shortfalls: failures found, too few meetings and reports
            "r6_licensed_failures": 2,
            "r6_refusals": 1,
            "r1_meetings": 1,
            "r10_info_reports": 1,
            "r6_food_pass_rate": 0.88,
        },
        "郑伟",
    ),
    (
        "高新技术产业园区",
        "园区",
        "冯娟",
        "gaoxin@example.com",
        "高新园区质量考核.xlsx",
        {
            # the same total as 北湖街道 by another route: a shared rank (1, 2, 2, 4)
            "r5_two_free_controlled": "是",
            "r4_new_std_pilots": 2,
        },
        "冯娟",
    ),
    ("双桥镇", "镇", "陈刚", "shuangqiao@example.com", None, {}, ""),
]

SAMPLE_GENERATED_AT = "2010-12-01"
SAMPLE_FILLED_ON = "2010-12-20"


def towns_frame() -> pd.DataFrame:
    return pd.DataFrame([{"单位名称": t, "类别": c, "联系人": p, "邮箱": m} for t, c, p, m, *_ in SAMPLE_TOWNS])


def fill_workbook(
    template: Path, out: Path, values: dict[str, object], filler: str = "", filled_on: str = SAMPLE_FILLED_ON
) -> Path:
    """Type ``values`` (indicator → cell value; None leaves the cell empty) into a template."""
    wb = openpyxl.load_workbook(template)
    ws = wb[form.FORM_SHEET]
    header_row = code_col = value_col = None
    for row in ws.iter_rows(min_row=1, max_row=30):
        texts = [c.value for c in row]
        if form.CODE_HEADER in texts and form.VALUE_HEADER in texts:
            header_row, code_col = row[0].row, texts.index(form.CODE_HEADER) + 1
            value_col = texts.index(form.VALUE_HEADER) + 1
            break
    if header_row is None:
        raise ValueError(f"{template}: no header row")
    for r in range(header_row + 1, ws.max_row + 1):
        code = ws.cell(r, code_col).value
        if code in values:
            ws.cell(r, value_col).value = values[code]
    for r in range(1, header_row):
        for c in range(1, ws.max_column + 1):
            label = ws.cell(r, c).value
            # the value cell is the first one after the label's merged range (A:C)
            if label == form.FILLER_LABEL and filler:
                ws.cell(r, c + 3).value = filler
            elif label == form.DATE_LABEL and filled_on:
                ws.cell(r, c + 3).value = pd.Timestamp(filled_on).to_pydatetime()
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return out


def make_samples(rules: Rules, out_dir: Path) -> list[Path]:
    """Write towns.csv and the returned workbooks of SAMPLE_TOWNS into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    towns_frame().to_csv(out_dir / "towns.csv", index=False, encoding="utf-8-sig")
    returned = out_dir / "returned"
    if returned.exists():
        shutil.rmtree(returned)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        for town, _, _, _, file_name, overrides, filler in SAMPLE_TOWNS:
            if file_name is None:
                continue
            template = write_template(
                rules,
                town,
                Path(tmp) / f"{town}.xlsx",
                TemplateOptions(
                    deadline="2010年12月25日", contact="县质监局 0000-0000000", generated_at=SAMPLE_GENERATED_AT
                ),
            )
            written.append(fill_workbook(template, returned / file_name, {**GOOD, **overrides}, filler))
    return written
