"""Bootstrap intervals for the numbers a ranking rests on: a mean over documents, a pooled rate
(WER: word errors over reference words) over clips, and the paired difference of two systems
scored on the same items (resampling the items, both systems together).

A comparison on fewer than a few thousand words or about a hundred documents is reported with
its 95% interval; ``distinguishable`` says whether that interval of a difference leaves out 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RESAMPLES = 2000
LEVEL = 0.95
# Fewer items than this get no interval: resampling a handful of items draws the same few
# values again and again, so the "interval" would say more than the data can.
MIN_ITEMS = 10


def _draws(items: int, seed: int) -> np.ndarray:
    """``RESAMPLES`` x ``items`` indices, the same for the same seed and size."""
    return np.random.default_rng(seed).integers(0, items, (RESAMPLES, items))


def _bounds(values: np.ndarray) -> tuple[float, float]:
    tail = 100 * (1 - LEVEL) / 2
    return float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))


def mean_interval(values: Sequence[float], seed: int = 0) -> tuple[float, float]:
    """The 95% bootstrap interval of a mean over items (say ROUGE-L over documents)."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("an interval needs at least one item")
    return _bounds(data[_draws(data.size, seed)].mean(axis=1))


def pooled_interval(
    errors: Sequence[float], totals: Sequence[float], seed: int = 0
) -> tuple[float, float]:
    """The 95% bootstrap interval of ``sum(errors) / sum(totals)`` over items (WER over clips:
    a clip's word errors and reference words travel together)."""
    err, tot = np.asarray(errors, dtype=float), np.asarray(totals, dtype=float)
    if err.size == 0 or err.shape != tot.shape:
        raise ValueError("errors and totals need one value per item, at least one item")
    draws = _draws(err.size, seed)
    return _bounds(err[draws].sum(axis=1) / np.maximum(tot[draws].sum(axis=1), 1e-12))


def paired_difference(
    a: Sequence[float],
    b: Sequence[float],
    totals: Sequence[float] | None = None,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``(b - a, low, high)``: the difference of two systems on the same items with its 95%
    interval. Without ``totals`` the statistic is the mean per item; with them it is pooled
    (``a`` and ``b`` are per-item error counts, ``totals`` the items' reference words)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.size == 0 or x.shape != y.shape:
        raise ValueError("both systems need a score on every item, at least one item")
    draws = _draws(x.size, seed)
    if totals is None:
        delta, samples = y.mean() - x.mean(), (y[draws] - x[draws]).mean(axis=1)
    else:
        tot = np.asarray(totals, dtype=float)
        denominator = np.maximum(tot[draws].sum(axis=1), 1e-12)
        delta = (y.sum() - x.sum()) / max(tot.sum(), 1e-12)
        samples = (y[draws].sum(axis=1) - x[draws].sum(axis=1)) / denominator
    return float(delta), *_bounds(samples)


def distinguishable(low: float, high: float) -> bool:
    """Whether an interval of a difference leaves out 0 (the two systems differ)."""
    return low > 0 or high < 0


NOT_DISTINGUISHABLE = "not distinguishable"


def interval_text(low: float, high: float, spec: str = "+.1f", scale: float = 1.0) -> str:
    """``[low, high]`` (each times ``scale``, formatted with ``spec``), followed by
    "(not distinguishable)" when the interval of a difference holds 0."""
    text = f"[{scale * low:{spec}}, {scale * high:{spec}}]"
    return text if distinguishable(low, high) else f"{text} ({NOT_DISTINGUISHABLE})"
