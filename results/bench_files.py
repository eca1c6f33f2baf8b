"""Benchmark result files (``<checkpoints>/bench/*.json``) as rows for the dashboard.

A damaged or oversized file becomes a warning, never an exception.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from demo.jsonfiles import read_json

BENCH_DIR = "bench"  # <checkpoints>/bench/*.json: benchmark rows

MAX_BENCH_FILES = 200

MAX_BENCH_BYTES = 4 * 1024 * 1024


def load_bench(root: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Benchmark rows from ``root/bench/*.json`` and a warning per unreadable file.

    A file holds a list of rows, an object with a "rows" list, or one row; a row is an object
    with at least "config". A missing folder gives no rows and no warnings.
    """
    folder = Path(root) / BENCH_DIR
    if not folder.is_dir():
        return [], []
    base = folder.resolve()
    rows: list[dict[str, Any]] = []
    warnings: list[str] = []
    for path in sorted(folder.glob("*.json"))[:MAX_BENCH_FILES]:
        where = f"{BENCH_DIR}/{path.name}"
        problems: list[str] = []
        data = read_json(path, limit=MAX_BENCH_BYTES, warnings=problems, base=base)
        warnings += [f"{BENCH_DIR}/{problem}" for problem in problems]
        if data is None:
            continue
        found = data.get("rows", [data]) if isinstance(data, dict) else data
        if not isinstance(found, list):
            warnings.append(f"{where}: holds no list of rows; ignored.")
            continue
        good = [r for r in found if isinstance(r, dict) and isinstance(r.get("config"), str)]
        if len(good) < len(found):
            warnings.append(f"{where}: {len(found) - len(good)} rows without a config skipped.")
        rows.extend(good)
    return rows, warnings
