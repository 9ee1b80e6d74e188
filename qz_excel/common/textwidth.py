"""How wide text shows: CJK wide and fullwidth characters take two columns, others one.

Shared by the workbook layout (row heights, column widths) and the command line's help
(terminal columns); kept free of heavy imports so `qz --help` can use it."""

from __future__ import annotations

import unicodedata


class _CharWidths(dict):
    """Character → display columns, each character looked up in unicodedata once:
    display_width then runs as one C-level map."""

    def __missing__(self, ch: str) -> int:
        width = self[ch] = 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        return width


_CHAR_WIDTHS = _CharWidths()


def display_width(text: str) -> int:
    return sum(map(_CHAR_WIDTHS.__getitem__, text))
