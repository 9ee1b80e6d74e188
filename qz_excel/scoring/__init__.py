"""The scoring engine: ``Rules`` × one frame of normalised values → points, outcomes, ranks.

Takes: the values frame from intake (one row per town, one column per indicator) and
optional per-cell notes. Gives: :mod:`.engine` (``score`` → ``ScoreResult``: sub-rule
points and explanations, item scores, totals, competition ranks). Pure pandas/numpy: no
I/O, no printing, no per-town Python loop.

Must not import: intake, results, followup, mail, pipeline, cli.
"""
