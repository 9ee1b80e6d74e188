"""The workbook each town fills (`qz template`), and the contract intake reads it by.

Takes: ``Rules`` and the towns list. Gives: :mod:`.form` (sheet names, headers and labels
shared by the writer and intake: the contract), :mod:`.writer` (one locked, validated
input workbook per town with hidden metadata: year, town, rules fingerprint),
:mod:`.samples` (workbooks filled the way a town fills them, for the bundled samples and
the tests).

Must not import: intake, scoring, results, followup, mail, pipeline, cli.
"""
