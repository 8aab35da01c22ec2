"""Read the rows of a table printed by rich (box characters) back into cells, for tests."""

from __future__ import annotations


def rich_rows(text: str) -> dict[str, list[str]]:
    """``{first cell: [cells...]}`` for every body row (``│ a │ b │``) of the rich tables in ``text``."""
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.lstrip().startswith("│"):
            cells = [c.strip() for c in line.strip().strip("│").split("│")]
            rows[cells[0]] = cells[1:]
    return rows


def rich_header(text: str) -> list[str]:
    """The cells of the first header row (``┃ a ┃ b ┃``) in ``text``."""
    line = next(ln for ln in text.splitlines() if ln.lstrip().startswith("┃"))
    return [c.strip() for c in line.strip().strip("┃").split("┃")]
