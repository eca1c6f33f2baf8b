"""The low-rank study over seeds (issue 34): an arm trained at several seeds beside the
original fine-tuned at the same seeds, as means and spreads, so that a 0.5-point verdict is not
one seed's luck. ``results.report_systems.lowrank_rows`` gives the per-run rows this reads
(each arm's row carries its original's run id, paired at the same seed where there is one)."""

from __future__ import annotations

from collections.abc import Callable
from statistics import mean

from bench.markdown import fmt, table

MIN_SEEDS = 2  # an arm at fewer seeds has no spread to report


def seed_groups(rows: list[dict]) -> list[dict]:
    """Per model and arm (named without its seed) trained at ``MIN_SEEDS`` seeds or more:
    the seeds, the arm's and its originals' mean and spread (min, max) of WER on the test
    split and on real speech, the mean gaps in points and the size reduction."""
    by_run = {r["run_id"]: r for r in rows}
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        if row.get("test_points") is not None and row.get("arm"):
            groups.setdefault((row["model"], row["arm"]), []).append(row)
    out = []
    for (model, arm), arms in groups.items():
        if len({r["seed"] for r in arms}) < MIN_SEEDS:
            continue
        paired = dict.fromkeys(r["original_run"] for r in arms if r["original_run"] in by_run)
        originals = [by_run[run_id] for run_id in paired]  # each original once
        sizes = [r["smaller_pct"] for r in arms if r.get("smaller_pct") is not None]
        group = {"model": model, "arm": arm, "seeds": sorted(r["seed"] for r in arms),
                 "original_seeds": sorted(r["seed"] for r in originals),
                 "smaller_pct": mean(sizes) if sizes else None}  # fmt: skip
        for split in ("test", "real"):
            points = [r[f"{split}_points"] for r in arms if r.get(f"{split}_points") is not None]
            group[f"{split}_points"] = mean(points) if points else None
            for who, part in (("arm", arms), ("original", originals)):
                values = [100 * r[f"{split}_wer"] for r in part if r[f"{split}_wer"] is not None]
                group[f"{who}_{split}"] = (
                    (mean(values), min(values), max(values)) if values else None
                )
        out.append(group)
    return out


def _seeds(seeds: list[int]) -> str:
    return ", ".join(map(str, seeds))


def _spread(value) -> str:
    if value is None:
        return "–"
    middle, low, high = value
    return f"{middle:.2f} ({low:.2f}–{high:.2f})"


def seed_lines(groups: list[dict], meets: Callable[[dict], bool]) -> list[str]:
    """The over-seeds table and its verdict (``meets``: the study's bar, read off a group's
    mean gaps and size as off one run's row); nothing without an arm at several seeds."""
    if not groups:
        return []
    header = ["model", "arm", "seeds", "size", "test WER % (min–max)",
              "original test WER %", "real-speech WER %", "original real-speech WER %",
              "mean gap, test / real (points)"]  # fmt: skip
    body = [
        [
            g["model"],
            g["arm"],
            f"{_seeds(g['seeds'])} (original: {_seeds(g['original_seeds'])})",
            "–" if g["smaller_pct"] is None else f"{-g['smaller_pct']:+.1f}%",
            _spread(g["arm_test"]),
            _spread(g["original_test"]),
            _spread(g["arm_real"]),
            _spread(g["original_real"]),
            f"{fmt(g['test_points'], '+.2f')} / {fmt(g['real_points'], '+.2f')}",
        ]
        for g in groups
    ]
    met = [f"{g['model']} {g['arm']}" for g in groups if meets(g)]
    verdict = (f"Over seeds (mean): {'; '.join(met)} meet the bar." if met else
               "Over seeds (mean): no arm meets the bar.")  # fmt: skip
    intro = ("The arms trained at several seeds, each beside the original fine-tuned the same "
             "way at the same seeds (WER mean, min–max over the seeds):")  # fmt: skip
    return [intro, "", *table(header, body), "", verdict, ""]
