"""The accuracy sections of ``assets/benchmarks.md`` (written by results.report): each CPU mode
against full precision on the bench clips (``accuracy.json``), on the real-speech set
(``accuracy-real.json``) and pooled over a corpus beside faster-whisper (``accuracy-talks*``).
"""

from __future__ import annotations

from bench.accuracy import MIN_POOLED_WORDS
from bench.env import decoding_label
from bench.markdown import fmt as _num
from bench.markdown import table as _table
from demo.intervals import MIN_ITEMS, distinguishable, interval_text, paired_difference


def accuracy_section(data: dict) -> list[str]:
    meta, rows = data["meta"], data["rows"]
    clips = list(dict.fromkeys(r["clip"] for r in rows))
    out = ["## Accuracy of each CPU mode against full precision", ""]
    out += [
        f"`{meta.get('command', 'python -m bench.accuracy')}`: WER % per clip, greedy, with "
        "the gap to full precision in points. A mode may be the `auto` default when its WER "
        f"pooled over all clips is within {meta.get('max_gap_points')} points of full "
        f"precision's and it loses at most {meta.get('max_clip_words')} word on any one clip.",
        "",
    ]
    table = []
    verdicts = {(v["model"], v["quant"]): v for v in meta.get("verdicts", [])}
    for key in dict.fromkeys((r["model"], r["quant"]) for r in rows):
        cells = {r["clip"]: r for r in rows if (r["model"], r["quant"]) == key}
        verdict = verdicts.get(key, {})
        table.append(
            [f"{key[0]} {key[1]}"]
            + [
                f"{100 * cells[c]['wer']:.2f} ({cells[c]['gap_points']:+.1f})"
                if c in cells
                else "–"
                for c in clips
            ]
            + [
                _num(100 * verdict["pooled_wer"]) if verdict else "–",
                _num(verdict.get("pooled_gap_points"), "+.2f"),
                {True: "yes", False: "no"}.get(verdict.get("may_be_default"), "–"),
            ]
        )
    out += _table(["model / mode", *clips, "pooled WER", "gap", "default?"], table)
    first = (rows[0]["model"], rows[0]["quant"]) if rows else None
    words = sum(r["reference_words"] for r in rows if (r["model"], r["quant"]) == first)
    if len(clips) < MIN_ITEMS:
        out += ["", f"No interval on the gaps: {len(clips)} clips ({words:,} words) are under "
                f"the {MIN_ITEMS} a bootstrap over clips needs; the real-speech table below has "
                "one."]  # fmt: skip
    return out + [""]


def gap_intervals(rows: list[dict]) -> dict[tuple[str, str], tuple[float, float, float]]:
    """(model, mode) -> (gap, low, high) in WER points against the same model's baseline
    mode, paired over the clips both decoded (word errors pooled over reference words)."""
    by_key: dict[tuple[str, str], dict[str, dict]] = {}
    for row in rows:
        by_key.setdefault((row["model"], row["quant"]), {})[row["clip"]] = row
    out = {}
    for (model, quant), clips in by_key.items():
        base = by_key.get((model, next(iter(clips.values())).get("baseline", "full")), {})
        shared = [c for c in clips if c in base and base is not clips]
        if len(shared) < MIN_ITEMS:
            continue
        words = [clips[c]["reference_words"] for c in shared]
        errors = [[r[c]["wer"] * r[c]["reference_words"] for c in shared] for r in (base, clips)]
        gap, low, high = paired_difference(*errors, totals=words)
        out[(model, quant)] = (100 * gap, 100 * low, 100 * high)
    return out


def real_speech_section(data: dict) -> list[str]:
    """``bench.accuracy`` on the real-speech set: each mode's pooled WER, word errors and gap
    to full precision with its 95% interval (paired bootstrap over clips), and whether it
    meets the ``auto`` rule there."""
    meta = data["meta"]
    verdicts = meta.get("verdicts", [])
    intervals = gap_intervals(data.get("rows", []))
    out = ["## Accuracy of each CPU mode on real human speech", ""]
    out += [
        f"`{meta.get('command', 'python -m bench.accuracy')}`: the real-speech set "
        "([assets/corpora/real-speech.md](corpora/real-speech.md)), greedy. A mode may be the "
        f"`auto` default when its WER pooled over these words is within "
        f"{meta.get('max_gap_points')} points of full precision's (the pooled rule, on at "
        f"least {MIN_POOLED_WORDS:,} words) and it loses at most "
        f"{meta.get('max_clip_words')} word on any one clip. *Gap 95% interval*: a paired "
        "bootstrap over the clips (2,000 resamples); *distinguishable*: the interval leaves out "
        "0, so the mode and full precision differ beyond what these clips can tell apart.",
        "",
    ]

    def interval(v: dict) -> list[str]:
        found = intervals.get((v["model"], v["quant"]))
        if found is None:
            return ["–", "–"]
        return [f"[{found[1]:+.2f}, {found[2]:+.2f}]",
                "yes" if distinguishable(found[1], found[2]) else "no"]  # fmt: skip

    table = [
        [f"{v['model']} {v['quant']}", str(v["clips"]), f"{v['words']:,}",
         _num(100 * v["pooled_wer"]), f"{v['pooled_wer'] * v['words']:.0f}",
         _num(v["pooled_gap_points"], "+.2f"), *interval(v),
         _num(v["worst_clip_words_lost"], "+.0f"),
         {True: "yes", False: "no"}.get(v.get("meets_pooled_rule"), "–"),
         {True: "yes", False: "no"}.get(v.get("may_be_default"), "–")]
        for v in verdicts
    ]  # fmt: skip
    header = ["model / mode", "clips", "reference words", "pooled WER %", "word errors",
              "gap (points)", "gap 95% interval", "distinguishable", "most words lost on a clip",
              f"pooled rule (≥{MIN_POOLED_WORDS:,} words)", "default? (+ clip rule)"]  # fmt: skip
    return out + _table(header, table) + [""]


LOOP_WER = 0.6  # a clip this far off is a decoding loop (no temperature fallback), not errors


def corpus_accuracy_section(results: list[dict]) -> list[str]:
    """``bench.accuracy --manifest`` results (one per decoding): pooled WER of each engine
    over a corpus's clips and its gap to the run's baseline, in words and points, and the
    pooled WER again without the clips where any engine looped (``LOOP_WER``)."""
    out = ["## Long-form WER beside faster-whisper, pooled over a corpus", ""]
    table = []
    for data in results:
        meta, rows = data["meta"], data["rows"]
        intervals = gap_intervals(rows)
        out.append(f"- `{meta.get('command', 'python -m bench.accuracy')}`")
        decoding = decoding_label(meta.get("options", {}).get("beams", 1))
        for v in meta.get("verdicts", []):
            mine = [r for r in rows if (r["model"], r["quant"]) == (v["model"], v["quant"])]
            same = [r for r in rows if r["model"] == v["model"]]
            looped = {r["clip"] for r in same if r["wer"] > LOOP_WER}
            kept = [r for r in mine if r["clip"] not in looped]
            words = sum(r["reference_words"] for r in kept)
            clean = sum(r["wer"] * r["reference_words"] for r in kept) / words if words else None
            table.append(
                [f"{v['model']} {v['quant']}", decoding, str(v["clips"]), str(v["words"]),
                 _num(100 * v["pooled_wer"]), f"{v['pooled_wer'] * v['words']:.0f}",
                 f"{v['pooled_gap_points'] * v['words'] / 100:+.0f}",
                 _num(v["pooled_gap_points"], "+.2f"),
                 interval_text(*found[1:], "+.2f")
                 if (found := intervals.get((v["model"], v["quant"]))) else "–",
                 str(sum(r["wer"] > LOOP_WER for r in mine)),
                 _num(None if clean is None else 100 * clean)]
            )  # fmt: skip
    first = results[0]["meta"].get("options", {})
    out += [
        "",
        f"Clips: the first {first.get('max_clips') or 'all'} `{first.get('split')}` clips of "
        f"`{first.get('manifest')}` (spoken ACLSum abstracts, 60-90 s each: several espeak-ng "
        f"voices, speeds and noise levels), each over 30 s, so every engine takes its "
        f"long-form path. Gap: against `{first.get('baseline')}` on the same "
        "clips (negative: fewer errors), with its 95% interval: a paired bootstrap over the "
        'clips ("not distinguishable": it holds 0). Loops: clips over '
        f"{100 * LOOP_WER:.0f}% WER (a "
        "repeated phrase: both engines run without temperature fallback); the last column "
        "pools the clips where no engine of the model looped.",
        "",
    ]
    out += _table(
        ["model / mode", "decoding", "clips", "words", "pooled WER %", "errors",
         "gap (words)", "gap (points)", "gap 95% interval", "loops",
         "WER % without loops"], table)  # fmt: skip
    return out + [""]
