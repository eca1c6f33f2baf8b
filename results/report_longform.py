"""The long-form section of ``assets/benchmarks.md``: words kept on natural-rate programmes
(``bench.longform``): pooled WER with deletions per engine, per perturbed copy (a verdict must
survive them), and the default engine before and after the second pass, with paired intervals
over the programme copies."""

from __future__ import annotations

from pathlib import Path

from bench.env import read_results
from bench.markdown import fmt, table
from demo.intervals import MIN_ITEMS, interval_text, paired_difference

RESULT = "longform-programmes"
BEFORE = "longform-programmes-before"
DEFAULT = "fast-int8"  # the app's CPU mode (chunked long-form)


def _errors(row: dict) -> float:
    return row["substitutions"] + row["deletions"] + row["insertions"]


def _by_item(rows: list[dict], quant: str) -> dict[tuple[str, str], dict]:
    return {(r["programme"], r["copy"]): r for r in rows if r["quant"] == quant}


def gap_against(rows_a: list[dict], quant_a: str, rows_b: list[dict], quant_b: str) -> str:
    """The pooled WER change from ``quant_a`` to ``quant_b`` (points) with its 95% paired
    interval over the programme copies both scored; "–" under ``MIN_ITEMS`` of them."""
    a, b = _by_item(rows_a, quant_a), _by_item(rows_b, quant_b)
    items = sorted(set(a) & set(b))
    if len(items) < MIN_ITEMS:
        return "–"
    delta, low, high = paired_difference(
        [_errors(a[i]) for i in items],
        [_errors(b[i]) for i in items],
        [a[i]["reference_words"] for i in items],
    )
    return f"{100 * delta:+.2f} {interval_text(low, high, '+.2f', 100)}"


def longform_section(folder: Path) -> list[str]:
    """The section from ``longform-programmes.json`` (and its before file); [] without it."""
    data = read_results(Path(folder) / f"{RESULT}.json")
    if not data:
        return []
    meta, rows = data["meta"], data["rows"]
    before = read_results(Path(folder) / f"{BEFORE}.json") or {"rows": []}
    clips = meta.get("clips") or {}
    copies = meta.get("options", {}).get("copies", [])
    out = ["## Long recordings at a natural pace: words kept per engine", ""]
    out += [f"`{meta.get('command')}` ({meta.get('date')}, commit {meta.get('git_commit')}). "
            "tiny.en, greedy, one thread. Programmes (`bench/programmes.py`, seeded): "
            + ", ".join(f"{name} ({c['seconds'] / 60:.0f} min, {c['reference_words']} words)"
                        for name, c in clips.items())
            + "; the real ones join clips of the real-speech set with 0.2-0.8 s pauses, "
            "voices-5min corpus-v2 test voices at their normal rate, real-music-5min puts "
            "music, noise or applause between the talk. Each is scored as "
            f"{len(copies)} copies ({', '.join(copies)}) that differ below hearing: WER pooled "
            "over all of them, and per copy. Times were taken with other jobs on the CPU: "
            "no speed verdict here (bench.asr measures speed). Intervals: a paired bootstrap "
            "over the programme copies; the copies of one programme share their speech, so "
            "these intervals are narrower than ones over independent recordings would be.",
            ""]  # fmt: skip
    verdicts = meta.get("verdicts") or []
    body = []
    for v in verdicts:
        per_copy = ", ".join(fmt(100 * v["per_copy"].get(c), ".1f") for c in copies)
        gap = "–" if v["quant"] == DEFAULT else gap_against(rows, DEFAULT, rows, v["quant"])
        body.append([v["quant"], str(v["words"]), fmt(100 * v["pooled_wer"], ".2f"),
                     str(v["deletions"]), str(v["insertions"]), per_copy, gap])  # fmt: skip
    out += table(
        ["engine", "words", "pooled WER %", "deletions", "insertions",
         f"WER per copy ({', '.join(copies)})", f"vs {DEFAULT}: points, 95% interval"],
        body,
    ) + [""]  # fmt: skip
    change = gap_against(before["rows"], DEFAULT, rows, DEFAULT)
    if change != "–":
        out += [f"{DEFAULT} before the second pass (`{BEFORE}.json`) → after: {change} "
                "(negative: fewer errors; paired over the programme copies). The second pass "
                "decodes again, alone, each utterance no segment covered "
                "(`demo.asr.fast.finish.lost_speech`; docs/transcripts.md, \"Long "
                "recordings\").", ""]  # fmt: skip
    return out
