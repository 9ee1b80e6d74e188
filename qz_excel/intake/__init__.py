"""Returned files → one values frame and every problem, never losing a file.

Takes: the inbox's files (any name, .xlsx/.xlsm/.xls/.ods, broken or hostile), ``Rules``
and the towns list. Gives: :mod:`.read` (each file's town, values and problems; the newest
file of a town wins; one normalised values frame), :mod:`.safety` (checks a file must pass
before any parser sees it), :mod:`.cellfacts` (formula, error and percent facts calamine
does not give), :mod:`.changes` (what a resubmission changed: the 变更记录).

Must not import: scoring, results, followup, mail, pipeline, cli.
"""
