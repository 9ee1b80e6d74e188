"""A year's assessment as one folder: its settings, its towns list, its rules, the
templates, the inbox and the results (the 考核年度工作目录 of `qz init`).

Takes: a folder on disk. Gives: :mod:`.folder` (the layout, ``find_campaign``,
``init_campaign``), :mod:`.settings` (qz.toml read strictly, every mistake with its line
and key; written with Chinese comments; never a password), :mod:`.status` (where the year
stands, from the towns list, the send log, the inbox and the last results: the rows and
counts of `qz status` and of the web board).

May import the stages below it (pipeline, mail, followup, results …); must not import cli.
"""
