"""The shipped bridge's section of ``assets/benchmarks.md``: ``bridge-v2-*.json``
(training.eval_bridge, from ``training/grids/bridge-v2.yaml``), one table per scored set, each
WER with its 95% interval over clips and its paired difference from the unmodified Whisper."""

from __future__ import annotations

from pathlib import Path

from bench.env import read_results
from bench.markdown import fmt, table
from demo.intervals import interval_text

PATTERN = "bridge-v2-*.json"


def served_bridge_section(folder: Path) -> list[str]:
    """Every ``bridge-v2-*.json`` in ``folder`` as one table each (none: no section)."""
    files = [(p, read_results(p)) for p in sorted(Path(folder).glob(PATTERN))]
    files = [(p, d) for p, d in files if d and d.get("rows")]
    if not files:
        return []
    out = [
        "## The Q-Former bridge the app offers",
        "",
        "The WER-vs-Nq table's best shape (100 local queries with the pooled shortcut) trained "
        "again on corpus v2's 2,400 training clips (12 voices of 4 engines), and a 32-query one "
        "trained the same way (the end-to-end model's start: `e2e-v2.yaml`). `bridge-fp16` "
        "rows are the fp16 query path the app "
        'loads (Compression: "Q-Former bridge"). Pooled: the frozen decoder reading the '
        "frames averaged to Nq, nothing trained; Whisper: tiny.en on every frame. In brackets: "
        '95% bootstrap intervals over clips; "vs Whisper" is the paired WER difference on '
        "the same clips (positive: the bridge makes more errors). Greedy, no 4-gram repeated.",
        "",
    ]
    for path, data in files:
        rows = data["rows"]
        first = rows[0]
        out += [f"### `{path.name}`: {first['clips']} `{first['split']}` clips of "
                f"`{first.get('manifest', '?')}`", ""]  # fmt: skip
        out += [f"`{c}`" for c in data.get("commands") or [] if c] + [""]
        body = []
        for r in rows:
            low_high = r.get("wer_interval")
            wer = fmt(100 * r["wer"], ".1f")
            if low_high:  # a rate's interval, not a difference's: no verdict on 0
                wer += f" [{100 * low_high[0]:.1f}, {100 * low_high[1]:.1f}]"
            gap = r.get("wer_vs_whisper")
            vs = (
                ""
                if not gap
                else f"{100 * gap[0]:+.1f} " + interval_text(gap[1], gap[2], scale=100)
            )
            body.append([
                r["system"], r["kind"], fmt(r.get("num_queries"), "d"), wer, vs,
                fmt(100 * r["minilm_similarity"], ".1f"), fmt(r.get("weights_mb"), ".1f"),
            ])  # fmt: skip
        out += table(["system", "kind", "Nq", "WER % [95%]", "vs Whisper, points",
                      "similarity", "file MB"], body)  # fmt: skip
        out += [""]
    return out
