"""Markdown pieces the generated report (results.report, results.report_systems) is built from."""

from __future__ import annotations


def fmt(value, spec: str = ".2f", missing: str = "–") -> str:
    """``value`` formatted with ``spec``, or ``missing`` when there is none."""
    return missing if value is None else f"{value:{spec}}"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table's lines."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines
