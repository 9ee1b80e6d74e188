"""The `qz` command line: the only code that prints or exits.

Takes: what a clerk types. Gives: :mod:`.commands` (the ``qz`` group: template, score,
rules), :mod:`.mail` (qz mail), :mod:`.common` (exit codes, one-line Chinese failures,
shared options), :mod:`.zh` (click's own words in Chinese). Commands parse, call the
library and render its results and exceptions; they hold no logic of their own.

At import only click and the standard library are loaded (``qz --help`` answers at once):
everything else is imported inside the command that needs it. A new command is a module
here added to the group in :mod:`.commands`. May import any stage; nothing imports it.
"""
