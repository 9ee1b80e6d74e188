"""LibreOffice driven as a town drives it: Basic macros in a throwaway profile open a
workbook hidden, change it as a person would, and save it with a filter of our choice."""

from __future__ import annotations

import subprocess
from pathlib import Path

from qz_excel.results.office import find_soffice

MODULE = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE script:module PUBLIC "-//OpenOffice.org//DTD OfficeDocument 1.0//EN" "module.dtd">
<script:module xmlns:script="http://openoffice.org/2000/script" script:name="Module1" script:language="StarBasic">
Function OpenHidden(source As String)
    Dim load(0) As New com.sun.star.beans.PropertyValue
    load(0).Name = &quot;Hidden&quot;
    load(0).Value = True
    OpenHidden = StarDesktop.loadComponentFromURL(ConvertToURL(source), &quot;_blank&quot;, 0, load())
End Function

Sub StoreAs(doc, target As String, filter As String, secret As String)
    Dim store(0) As New com.sun.star.beans.PropertyValue
    store(0).Name = &quot;FilterName&quot;
    store(0).Value = filter
    If secret &lt;&gt; &quot;&quot; Then
        ReDim Preserve store(1) As New com.sun.star.beans.PropertyValue
        store(1).Name = &quot;Password&quot;
        store(1).Value = secret
    End If
    doc.storeToURL(ConvertToURL(target), store())
    doc.close(True)
End Sub

Sub SaveWithPassword(source As String, target As String, filter As String, secret As String)
    StoreAs(OpenHidden(source), target, filter, secret)
End Sub

Rem the k-th entry (from 1) of a cell&apos;s dropdown list, as a person picks it
Function Picked(cell, k As Integer) As String
    entries = Split(cell.Validation.getFormula1(), &quot;;&quot;)
    Picked = Replace(Trim(entries(k - 1)), Chr(34), &quot;&quot;)
End Function

Rem edits: &quot;E11=是|E22=0.9|E12=#2&quot;; a number is typed as a number, #k picks the k-th
Rem entry of the cell&apos;s dropdown list, anything else is typed as text
Sub Correct(source As String, target As String, filter As String, sheetName As String, edits As String)
    doc = OpenHidden(source)
    sheet = doc.Sheets.getByName(sheetName)
    For Each edit In Split(edits, &quot;|&quot;)
        parts = Split(edit, &quot;=&quot;)
        cell = sheet.getCellRangeByName(parts(0))
        If Left(parts(1), 1) = &quot;#&quot; Then
            cell.String = Picked(cell, CInt(Mid(parts(1), 2)))
        ElseIf IsNumeric(parts(1)) Then
            cell.Value = Val(parts(1))
        Else
            cell.String = parts(1)
        End If
    Next
    StoreAs(doc, target, filter, &quot;&quot;)
End Sub
</script:module>
"""


class LibreOffice:
    """``run(sub, *args)`` runs one of :data:`MODULE`'s subs in its own profile."""

    def __init__(self, profile: Path):
        self.soffice = find_soffice()
        self.profile = profile
        subprocess.run(
            [self.soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--terminate_after_init"],
            capture_output=True,
            timeout=120,
        )
        (profile / "user" / "basic" / "Standard" / "Module1.xba").write_text(MODULE, encoding="utf-8")

    def run(self, sub: str, *args: str) -> None:
        quoted = ",".join(f'"{a}"' for a in args)
        subprocess.run(
            [
                self.soffice,
                f"-env:UserInstallation={self.profile.as_uri()}",
                "--headless",
                "--norestore",
                f"macro:///Standard.Module1.{sub}({quoted})",
            ],
            capture_output=True,
            timeout=120,
        )

    def save_with_password(self, source: Path, target: Path, filter_name: str, secret: str = "1234") -> Path:
        self.run("SaveWithPassword", str(source), str(target), filter_name, secret)
        assert target.exists(), "LibreOffice did not save the file"
        return target

    def correct(
        self, source: Path, target: Path, filter_name: str, edits: dict[str, object], sheet: str = "填报表"
    ) -> Path:
        """Type ``edits`` (A1 address → value) into ``sheet`` and save as ``target``."""
        self.run(
            "Correct",
            str(source),
            str(target),
            filter_name,
            sheet,
            "|".join(f"{cell}={value}" for cell, value in edits.items()),
        )
        assert target.exists(), "LibreOffice did not save the corrected file"
        return target
