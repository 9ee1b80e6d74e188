"""Following up with the towns, and the bureau's 核定.

Takes: ``Rules``, intake's records, a ``ScoreResult``, a results folder. Gives:
:mod:`.feedback` (反馈/<单位名称>.xlsx: the town's own workbook with every cell to correct
marked), :mod:`.reminders` (who to remind and which 反馈 to send, read back from a results
folder), :mod:`.review_table` (核定表.xlsx, written by every run), :mod:`.review` (a filled
核定表 read back and applied to the values before scoring).

Must not import: mail, pipeline, cli.
"""
