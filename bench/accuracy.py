"""Accuracy of each CPU mode against full precision, clip by clip (no timing).

    python -m bench.accuracy                         # tiny.en + base, every clip, greedy
    python -m bench.accuracy --models tiny.en --clips meeting --modes full fast-int8

The ``auto`` default may only be a mode whose WER is within ``MAX_GAP_POINTS`` of full
precision on every clip measured here; this is where that is checked. fast-int8's ablations
(``bench.engines.ABLATIONS``) say which of its choices a gap comes from. Results go to
``checkpoints/bench/accuracy.json``.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.clips import CLIPS, load_clip
from bench.engines import EngineSpec, load, transcribe
from bench.env import DEFAULT_OUT, meta, report, write_results
from demo.options import add_flags, from_args, option

MODULE = "bench.accuracy"
MAX_GAP_POINTS = 0.5  # WER percentage points a default mode may lose against full precision
DEFAULT_MODES = ("full", "fast-int8", "fast-int8~enc-fp32", "fast-int8~dec-fp32", "dynamic-int8")


@dataclass(frozen=True)
class AccuracyOptions:
    models: tuple[str, ...] = option(("tiny.en", "base"), "bundled Whisper models")
    modes: tuple[str, ...] = option(DEFAULT_MODES, "demo modes and fast-int8 ablations")
    clips: tuple[str, ...] = option(CLIPS, "bench.clips names")
    beams: int = option(1, "beam width (1 = greedy)")
    out: str = option(str(DEFAULT_OUT), "folder for the result files")
    name: str = option("accuracy", "result file name (without suffix)")


def run(options: AccuracyOptions, argv: list[str] | None = None) -> tuple[Path, list[dict]]:
    from tqdm.auto import tqdm

    from demo.metrics import wer

    clips = [load_clip(name) for name in options.clips]
    rows: list[dict] = []
    for model in options.models:
        for mode in options.modes:
            engine = load(EngineSpec(model, mode), threads=0)
            for clip in tqdm(clips, desc=f"{model} {mode}", unit="clip"):
                text = transcribe(engine, clip.audio, options.beams)
                rows.append(
                    {"config": f"{model} {mode} · {clip.name}", "kind": "accuracy",
                     "model": model, "quant": mode, "clip": clip.name,
                     "audio_s": round(clip.seconds, 2), "beams": options.beams,
                     "wer": wer(clip.reference, text), "text": text}
                )  # fmt: skip
            del engine
    for row in rows:
        full = next(r for r in rows if (r["model"], r["clip"], r["quant"]) == (
            row["model"], row["clip"], "full"))  # fmt: skip
        row["gap_points"] = round(100 * (row["wer"] - full["wer"]), 2)
    meta_ = meta(MODULE, argv, options=asdict(options), max_gap_points=MAX_GAP_POINTS,
                 clips={c.name: {"seconds": round(c.seconds, 1), "source": c.source}
                        for c in clips})  # fmt: skip
    return write_results(Path(options.out), options.name, meta_, rows), rows


def format_table(rows: list[dict]) -> str:
    clips = list(dict.fromkeys(r["clip"] for r in rows))
    head = f"{'model / mode':28s}" + "".join(f"{c:>14s}" for c in clips)
    lines = [head, "-" * len(head)]
    for key in dict.fromkeys((r["model"], r["quant"]) for r in rows):
        cells = {r["clip"]: r for r in rows if (r["model"], r["quant"]) == key}
        lines.append(
            f"{key[0] + ' ' + key[1]:28s}"
            + "".join(
                f"{100 * cells[c]['wer']:8.2f} ({cells[c]['gap_points']:+.1f})" for c in clips
            )
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.split("\n")[0])
    add_flags(parser, AccuracyOptions)
    options = from_args(AccuracyOptions, parser.parse_args(argv))
    path, rows = run(options, argv)
    report(path, "WER % (points vs full precision)\n" + format_table(rows))


if __name__ == "__main__":
    main()
