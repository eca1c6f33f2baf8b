"""Text pieces: markdown tables for the generated report (``results.report``) and plain-text
tables the benchmarks print on the terminal."""

from __future__ import annotations

from collections.abc import Iterable


def fmt(value, spec: str = ".2f", missing: str = "–") -> str:
    """``value`` formatted with ``spec``, or ``missing`` when there is none."""
    return missing if value is None else f"{value:{spec}}"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table's lines."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def text_table(columns: list[tuple[str, int]], rows: Iterable[list[str]]) -> str:
    """A plain-text table for the terminal: ``columns`` are (title, width) pairs; the first
    column is left-aligned, the others right-aligned; a rule under the titles."""

    def line(cells: list[str]) -> str:
        (_, first_width), *others = columns
        right = (f"{cell:>{width}s}" for cell, (_, width) in zip(cells[1:], others, strict=True))
        return " ".join([f"{cells[0]:{first_width}s}", *right])

    head = line([title for title, _ in columns])
    return "\n".join([head, "-" * len(head), *(line(cells) for cells in rows)])
