"""The rows a run uses when it is given fewer than a split holds: the first N, or N drawn at
random with a seed (kept in their order), the same for every run with that seed."""

from __future__ import annotations

import random


def subsample(rows: list, limit: int | None, seed: int | None = None) -> list:
    """The first ``limit`` rows, or with a seed ``limit`` rows drawn at random: a manifest sorted
    by source, voice or name would otherwise give its first one only."""
    if limit is None or seed is None or limit >= len(rows):
        return rows[:limit]
    keep = set(random.Random(seed).sample(range(len(rows)), limit))
    return [row for i, row in enumerate(rows) if i in keep]
