"""Words written where nobody speaks, per mode, with the no-speech gate off and on; and what
segments and word times cost.

    python -m bench.no_speech --threads 1                      # checkpoints/bench/no-speech.json
    python -m bench.no_speech --modes fast-int8 --overwrite    # one mode again
    python -m bench.no_speech --cost-only --repeats 15 --overwrite  # only the timings again

Clips: ``bench.silence_clips.no_speech_clips()`` (ten, no speech) and the JFK phrases at
known times with long pauses (``known_segments_clip``, 36 s; its words are real, so only the
words beyond its 47 spoken ones would be invented). ``invented`` counts every word written on
a no-speech clip. The cost rows time the fast-int8 engine on jfk.flac, mit-en (a full 30 s
window) and the known clip:
text only (the path before segments), segments (the default), segments + word times; the
minimum of ``--repeats`` interleaved runs at one thread.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.env import (
    add_output_flags,
    meta,
    one_line_errors,
    read_results,
    set_threads,
    write_results,
)
from demo.errors import DemoError

MODULE = "bench.no_speech"
NAME = "no-speech"
DEFAULT_MODES = ("full", "dynamic-int8", "fast-int8")
REPEATS = 5
REAL_CLIPS = 100  # real-speech clips the gate must keep (data/real-speech, when present)


def _words(text: str) -> int:
    return len(text.split())


def run_modes(modes, threads: int) -> list[dict]:
    from bench.silence_clips import known_segments_clip, no_speech_clips
    from demo.asr import TranscribeOptions, transcribe
    from demo.models import ModelSpec, load_model

    clips = no_speech_clips()
    speech = known_segments_clip((2.0, 6.0, 9.0, 3.0))
    rows = []
    for mode in modes:
        loaded = load_model(ModelSpec("asr", "tiny.en", mode, device="cpu"))
        for name, audio in [*clips.items(), ("jfk-with-pauses", speech.audio)]:
            row = {"mode": mode, "clip": name, "seconds": round(len(audio) / 16000, 1)}
            for gate in (False, True):
                out = transcribe(loaded, audio, TranscribeOptions(no_speech_gate=gate))
                key = "after" if gate else "before"
                row[f"{key}_words"] = _words(out.text)
                row[f"{key}_text"] = out.text[:200]
            rows.append(row)
        del loaded
    return rows


def run_real(manifest: Path, count: int) -> dict | None:
    """Words the default mode writes on the first ``count`` clips of the real-speech set
    with the gate off and on (the gate must keep real speech), and the highest no-speech
    probability seen; None without the set."""
    import json

    from demo.asr.fast import mel_filters_of, transcribe_fast
    from demo.audio import load_audio
    from demo.models import ModelSpec, load_model

    if not manifest.exists():
        return None
    lines = manifest.read_text(encoding="utf-8").splitlines()[:count]
    loaded = load_model(ModelSpec("asr", "tiny.en", "fast-int8", device="cpu"))
    filters, tokenizer = mel_filters_of(loaded.processor), loaded.processor.tokenizer
    out = {"clips": 0, "reference_words": 0, "before_words": 0, "after_words": 0, "max_nsp": 0.0}
    for line in lines:
        row = json.loads(line)
        audio = load_audio(str(manifest.parent / row["audio"]), max_seconds=None)
        result = transcribe_fast(loaded.model, filters, audio, gate=False)
        text = tokenizer.decode(result.tokens, skip_special_tokens=True)
        kept = not any(s.silent() for s in result.scores)
        out["clips"] += 1
        out["reference_words"] += _words(row["text"])
        out["before_words"] += _words(text)
        out["after_words"] += _words(text) if kept else 0
        out["max_nsp"] = max([out["max_nsp"], *(s.no_speech_prob for s in result.scores)])
    return out


def run_cost(repeats: int) -> list[dict]:
    from bench.silence_clips import known_segments_clip
    from demo.asr.fast import mel_filters_of, transcribe_fast
    from demo.asr.transcribe import token_decoder
    from demo.audio import load_audio
    from demo.models import ModelSpec, load_model

    loaded = load_model(ModelSpec("asr", "tiny.en", "fast-int8", device="cpu"))
    fast, filters = loaded.model, mel_filters_of(loaded.processor)
    fast.decoder_threads = 1
    decode = token_decoder(loaded.processor.tokenizer)
    from bench.clips import load_clip

    clips = {
        "jfk": load_audio("tests/data/jfk.flac"),
        "mit-en": load_clip("mit-en").audio,  # a full 30 s window
        "jfk-with-pauses": known_segments_clip((2.0, 6.0, 9.0, 3.0)).audio,
    }
    ways = {
        "text": {"timestamps": False, "gate": False},
        "segments": {},
        "words": {"words": decode},
    }
    rows = []
    for name, audio in clips.items():
        best = dict.fromkeys(ways, float("inf"))
        for _ in range(repeats):
            for way, kwargs in ways.items():
                start = time.perf_counter()
                transcribe_fast(fast, filters, audio, **kwargs)
                best[way] = min(best[way], time.perf_counter() - start)
        rows.append({"clip": name, **{f"{k}_s": round(v, 4) for k, v in best.items()}})
    return rows


@one_line_errors
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.split("\n")[0])
    parser.add_argument("--modes", nargs="+", default=list(DEFAULT_MODES))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--out", default="checkpoints/bench")
    parser.add_argument("--real-speech", default="data/real-speech/manifest.jsonl")
    parser.add_argument("--real-clips", type=int, default=REAL_CLIPS)
    parser.add_argument(
        "--cost-only", action="store_true",
        help="time the cost rows again; keep the word counts of the existing result",
    )  # fmt: skip
    add_output_flags(parser)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    from demo.asr.segments import NO_SPEECH_THRESHOLD

    info = meta(MODULE, argv, threads=args.threads, repeats=args.repeats,
                no_speech_threshold=NO_SPEECH_THRESHOLD)  # fmt: skip
    if args.cost_only:
        old = read_results(Path(args.out) / f"{NAME}.json")
        if not old:
            raise DemoError("--cost-only needs an existing result; run without it first.")
        rows, real = old["rows"], old.get("real")
        info["counts_from"] = old["meta"].get("command")
    else:
        rows = run_modes(args.modes, args.threads)
        real = run_real(Path(args.real_speech), args.real_clips)
    cost = run_cost(args.repeats)
    path = write_results(Path(args.out), NAME, info, rows, cost=cost, real=real)
    print(f"written: {path}")


if __name__ == "__main__":
    main()
