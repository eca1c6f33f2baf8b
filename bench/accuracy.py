"""Accuracy of each CPU mode against full precision, clip by clip (no timing).

    python -m bench.accuracy                         # tiny.en + base, every clip, greedy
    python -m bench.accuracy --models tiny.en --clips meeting --modes full fast-int8
    # the real-speech set (make real-speech): ~560 human clips, ~3,400 words; --resume keeps
    # the model/mode pairs an interrupted run finished (each is saved as it ends)
    python -m bench.accuracy --manifest data/real-speech/manifest.jsonl \
        --modes full fast-int8 dynamic-int8 fw-int8 --name accuracy-real --resume
    # long-form beside faster-whisper: 20 spoken ACLSum abstracts (60-90 s, several voices)
    python -m bench.accuracy --manifest data/aclsum-talks/abstracts.jsonl --max-clips 20 \
        --modes fw-int8 fast-int8 --baseline fw-int8 --beams 5 --name accuracy-talks-beam5

The ``auto`` default may only be a mode whose WER, pooled over every clip measured here (all
word errors over all reference words), is within ``MAX_GAP_POINTS`` of full precision's, and
that loses at most ``MAX_CLIP_WORDS`` words against it on any one clip (a per-clip rule in
points would be finer than one word on a 60 s clip); this is where that is checked.
fast-int8's ablations (``bench.engines.ABLATIONS``) say which of its choices a gap comes
from. Results go to ``checkpoints/bench/accuracy.json``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from bench.clips import CLIPS, load_clip, manifest_clips
from bench.engines import EngineSpec, load, transcribe
from bench.env import DEFAULT_OUT, bench_main, meta, parse_options, write_results
from demo.options import option
from demo.provenance import write_json_atomic

MODULE = "bench.accuracy"
# Every finished model/mode pair's rows, saved as it ends and kept (not in git): a later run
# with --resume reuses them, and may add modes or models.
PARTIAL = ".partial.json"
MAX_GAP_POINTS = 0.5  # pooled WER points a default mode may lose against full precision
MAX_CLIP_WORDS = 1  # ... and words it may lose on any one clip
# The pooled rule alone counts where the words are many (issue 33: the real-speech set); a
# one-word bound on each of hundreds of clips, some over a minute long, is a stricter test.
MIN_POOLED_WORDS = 3000
TABLE_CLIPS = 6  # the terminal table lists clips one by one up to this many
QUICK = ("tiny.en on jfk only", {"models": ("tiny.en",), "clips": ("jfk",)})
DEFAULT_MODES = ("full", "fast-int8", "fast-int8~enc-fp32", "fast-int8~dec-fp32", "dynamic-int8")


@dataclass(frozen=True)
class AccuracyOptions:
    models: tuple[str, ...] = option(("tiny.en", "base"), "bundled Whisper models")
    modes: tuple[str, ...] = option(DEFAULT_MODES, "demo modes and fast-int8 ablations")
    clips: tuple[str, ...] = option(CLIPS, "bench.clips names")
    beams: int = option(1, "beam width (1 = greedy)")
    manifest: str | None = option(None, "score a corpus manifest's clips instead of --clips")
    split: str = option("test", "the manifest's split scored")
    max_clips: int | None = option(None, "the manifest's first N clips of the split")
    baseline: str = option("full", "the mode every gap is measured against (one of --modes)")
    resume: bool = option(
        False, "reuse the transcripts of model/mode pairs an earlier run of this --name finished"
    )
    saved_only: bool = option(
        False, "with --resume: decode nothing, write the result of the pairs saved so far"
    )

    def __post_init__(self) -> None:
        if self.baseline not in self.modes:
            raise ValueError(f"baseline {self.baseline!r} must be one of --modes.")
        if self.max_clips is not None and self.max_clips < 1:
            raise ValueError("max_clips must be at least 1.")
        if self.saved_only and not self.resume:
            raise ValueError("--saved-only writes what a run saved; add --resume.")

    out: str = option(str(DEFAULT_OUT), "folder for the result files")
    name: str = option("accuracy", "result file name (without suffix)")


def run(options: AccuracyOptions, argv: list[str] | None = None) -> tuple[Path, list[dict]]:
    from tqdm.auto import tqdm

    from demo.errors import DemoError

    if options.manifest:
        clips = manifest_clips(options.manifest, options.split, options.max_clips)
    else:
        clips = [load_clip(name) for name in options.clips]
    partial = Path(options.out) / f"{options.name}{PARTIAL}"
    key = {"clips": [c.name for c in clips], "beams": options.beams}
    saved = _finished(partial, key) if options.resume else []
    by_name = {clip.name: clip for clip in clips}
    pairs = [(model, mode) for model in options.models for mode in options.modes]
    # Rescored against the references as they are now (a reference fixed after the run counts).
    rows = [_row(r["model"], r["quant"], by_name[r["clip"]], r["text"], options) for r in saved
            if (r["model"], r["quant"]) in pairs]  # fmt: skip
    for model, mode in pairs:
        if options.saved_only or any((r["model"], r["quant"]) == (model, mode) for r in rows):
            continue
        engine = load(EngineSpec(model, mode), threads=0)
        for clip in tqdm(clips, desc=f"{model} {mode}", unit="clip"):
            rows.append(_row(model, mode, clip, transcribe(engine, clip.audio, options.beams),
                             options))  # fmt: skip
        del engine
        others = [r for r in saved if (r["model"], r["quant"]) not in pairs]
        write_json_atomic(partial, {**key, "rows": others + rows})
    measured = {r["model"] for r in rows if r["quant"] == options.baseline}
    if not rows or any(r["model"] not in measured for r in rows):  # only with --saved-only
        raise DemoError(f"{partial} holds no {options.baseline} rows to measure the gaps "
                        "against; run without --saved-only.")  # fmt: skip
    for row in rows:
        base = next(r for r in rows if (r["model"], r["clip"], r["quant"]) == (
            row["model"], row["clip"], options.baseline))  # fmt: skip
        row["gap_points"] = round(100 * (row["wer"] - base["wer"]), 2)
    meta_ = meta(MODULE, argv, options=asdict(options), max_gap_points=MAX_GAP_POINTS,
                 max_clip_words=MAX_CLIP_WORDS, verdicts=verdicts(rows, options.baseline),
                 clips={c.name: {"seconds": round(c.seconds, 1), "source": c.source}
                        for c in clips})  # fmt: skip
    return write_results(Path(options.out), options.name, meta_, rows), rows


def _row(model: str, mode: str, clip, text: str, options: AccuracyOptions) -> dict:
    from demo.metrics import normalize_text, wer

    return {"config": f"{model} {mode} · {clip.name}", "kind": "accuracy", "model": model,
            "quant": mode, "clip": clip.name, "audio_s": round(clip.seconds, 2),
            "beams": options.beams, "wer": wer(clip.reference, text), "text": text,
            "reference_words": len(normalize_text(clip.reference).split()),
            "baseline": options.baseline}  # fmt: skip


def _finished(partial: Path, key: dict) -> list[dict]:
    """The rows an earlier run of the same clips and beam width saved as each model/mode pair
    ended (transcripts kept; their scores are recomputed), or none."""
    from bench.env import read_results

    saved = read_results(partial)
    if not saved or any(saved.get(k) != v for k, v in key.items()):
        return []
    return list({(r["model"], r["quant"], r["clip"]): r for r in saved["rows"]}.values())


def verdicts(rows: list[dict], baseline: str = "full") -> list[dict]:
    """Per model and mode: pooled WER, its gap to ``baseline`` (full precision), the most
    words lost on one clip, whether the mode may be a default (``MAX_GAP_POINTS``,
    ``MAX_CLIP_WORDS``) and whether it meets the pooled rule alone on at least
    ``MIN_POOLED_WORDS`` words (both against full precision only)."""
    out = []
    for model, mode in dict.fromkeys((r["model"], r["quant"]) for r in rows):
        mine = [r for r in rows if (r["model"], r["quant"]) == (model, mode)]
        base = {r["clip"]: r for r in rows if (r["model"], r["quant"]) == (model, baseline)}
        words = sum(r["reference_words"] for r in mine)
        errors = sum(r["wer"] * r["reference_words"] for r in mine)
        base_errors = sum(base[r["clip"]]["wer"] * r["reference_words"] for r in mine)
        lost = max((r["wer"] - base[r["clip"]]["wer"]) * r["reference_words"] for r in mine)
        gap = 100 * (errors - base_errors) / words
        out.append(
            {"model": model, "quant": mode, "clips": len(mine), "words": words,
             "pooled_wer": round(errors / words, 5), "pooled_gap_points": round(gap, 2),
             "worst_clip_words_lost": round(lost, 1),
             "may_be_default": gap <= MAX_GAP_POINTS and lost <= MAX_CLIP_WORDS + 1e-6
             if baseline == "full" else None,
             "meets_pooled_rule": gap <= MAX_GAP_POINTS and words >= MIN_POOLED_WORDS
             if baseline == "full" else None}
        )  # fmt: skip
    return out


def format_table(rows: list[dict]) -> str:
    """Per clip (up to ``TABLE_CLIPS`` clips) and pooled: WER % and the gap to the baseline."""
    baseline = rows[0].get("baseline", "full") if rows else "full"
    clips = list(dict.fromkeys(r["clip"] for r in rows))
    lines = [f"WER % (points vs {baseline})"]
    if len(clips) <= TABLE_CLIPS:
        head = f"{'model / mode':28s}" + "".join(f"{c:>14s}" for c in clips)
        lines += [head, "-" * len(head)]
        for key in dict.fromkeys((r["model"], r["quant"]) for r in rows):
            cells = {r["clip"]: r for r in rows if (r["model"], r["quant"]) == key}
            lines.append(
                f"{key[0] + ' ' + key[1]:28s}"
                + "".join(
                    f"{100 * cells[c]['wer']:8.2f} ({cells[c]['gap_points']:+.1f})" for c in clips
                )
            )
        lines.append("")
    lines.append(
        f"{'model / mode':28s} {'pooled WER':>10s} {'gap':>6s} {'worst clip':>10s}  default?"
    )
    for v in verdicts(rows, baseline):
        default = {True: "yes", False: "no"}.get(v["may_be_default"], "-")
        lines.append(
            f"{v['model'] + ' ' + v['quant']:28s} {100 * v['pooled_wer']:10.2f} "
            f"{v['pooled_gap_points']:+6.2f} {v['worst_clip_words_lost']:+10.1f}  {default}"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> AccuracyOptions:
    return parse_options(AccuracyOptions, MODULE, __doc__, argv, QUICK)


main = bench_main(parse_args, run, format_table)


if __name__ == "__main__":
    main()
