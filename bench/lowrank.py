"""Low-rank Whisper (demo.compress.lowrank) before any training: size, accuracy and speed.

    python -m bench.lowrank                      # tiny.en + base, rank fractions 0.125 0.25 0.5
    python -m bench.lowrank --sizes tiny.en --fractions 0.25 --parts params time

- ``params``: parameters and weights MiB (fp32, fp16) of the original and of each
  factorization (fc1/fc2, and fc1/fc2 + attention projections), counted on the real model.
- ``wer``: WER on jfk and mit-en (the English half of multilingual.mp3, first 30 s; bench.clips)
  of each factorization as it comes out of the SVD, untrained, greedy, fp32. An untrained
  low-rank model may loop: generation is capped at ``MAX_NEW_TOKENS`` (jfk needs ~30 tokens,
  mit-en ~110), which keeps such a run short and its WER still far above 100%.
- ``time``: encode + greedy decode of exactly ``TIME_TOKENS`` tokens on jfk, original vs
  factorized at ``--time-fraction`` (fc1/fc2), fp32 and torch dynamic int8, interleaved rounds,
  minimum of ``--repeats``; the same number of tokens on both sides, since an untrained model
  says something else.

Results go to ``checkpoints/bench/lowrank.json`` and ``.csv``.
"""

from __future__ import annotations

import argparse
import copy
import gc
import time
from typing import Any

from bench.env import DEFAULT_OUT, meta, write_results

SIZES = ("tiny.en", "base")
FRACTIONS = (0.125, 0.25, 0.5)
PARTS = ("params", "wer", "time")
MAX_NEW_TOKENS = 160
TIME_TOKENS = 30
MB = 2**20


def _targets() -> dict[str, tuple[str, ...]]:
    from demo.compress.lowrank import ATTENTION_TARGETS, FFN_TARGETS

    return {"fc1,fc2": FFN_TARGETS, "fc1,fc2+attention": FFN_TARGETS + ATTENTION_TARGETS}


def _load(size: str):
    from demo.models import ModelSpec, load_model

    loaded = load_model(ModelSpec("asr", size, "fp32", device="cpu"))
    loaded.model.generation_config.max_new_tokens = MAX_NEW_TOKENS
    return loaded


def _factorized(loaded, targets: tuple[str, ...], fraction: float):
    from dataclasses import replace

    from demo.compress.lowrank import LowRankConfig, factorize

    model = copy.deepcopy(loaded.model)
    factorize(model, LowRankConfig(targets=targets, rank_fraction=fraction))
    return replace(loaded, model=model.eval())


def params_rows(loaded, size: str, fractions) -> list[dict[str, Any]]:
    from demo.compress.lowrank import LowRankConfig, count_parameters, parameter_counts

    total = count_parameters(loaded.model)
    rows = [_size_row(size, "original", None, None, total, total)]
    d_model = loaded.model.config.d_model
    for label, targets in _targets().items():
        for fraction in fractions:
            config = LowRankConfig(targets=targets, rank_fraction=fraction)
            counts = parameter_counts(loaded.model, config)
            rank = round(fraction * d_model)
            rows.append(_size_row(size, label, fraction, rank, total, counts["params_after"]))
    return rows


def _size_row(size, targets, fraction, rank, before, after) -> dict[str, Any]:
    return {
        "size": size,
        "targets": targets,
        "rank_fraction": fraction,
        "rank": rank,
        "params": after,
        "reduction_pct": round(100 * (1 - after / before), 2),
        "fp32_mb": round(after * 4 / MB, 1),
        "fp16_mb": round(after * 2 / MB, 1),
    }


def wer_rows(loaded, size: str, fractions, clips) -> list[dict[str, Any]]:
    from tqdm.auto import tqdm

    from demo.asr import TranscribeOptions, transcribe
    from demo.metrics import wer

    options = TranscribeOptions(language=None if size.endswith(".en") else "en")
    configs = [("original", None)] + [(t, f) for t in _targets() for f in fractions]
    rows = []
    for label, fraction in tqdm(configs, desc=f"{size} WER", unit="model"):
        model = loaded if fraction is None else _factorized(loaded, _targets()[label], fraction)
        row: dict[str, Any] = {"size": size, "targets": label, "rank_fraction": fraction}
        for clip in clips:
            text = transcribe(model, clip.audio, options).text
            row[f"wer_{clip.name}"] = round(100 * wer(clip.reference, text), 1)
            row[f"text_{clip.name}"] = text[:120]
        rows.append(row)
        del model
        gc.collect()
    return rows


def _fixed_decode(model, features) -> None:
    import torch

    with torch.inference_mode():
        model.generate(
            input_features=features, max_new_tokens=TIME_TOKENS, min_new_tokens=TIME_TOKENS
        )


def time_rows(loaded, size: str, fraction: float, repeats: int, clip) -> list[dict[str, Any]]:
    from demo.compress.lowrank import FFN_TARGETS
    from demo.quant import apply_dynamic_int8

    features = loaded.processor.feature_extractor(
        clip.audio, sampling_rate=16000, return_tensors="pt"
    ).input_features
    factorized = _factorized(loaded, FFN_TARGETS, fraction).model
    engines = {
        ("fp32", "original"): loaded.model,
        ("fp32", "factorized"): factorized,
        ("dynamic-int8", "original"): apply_dynamic_int8(copy.deepcopy(loaded.model)),
        ("dynamic-int8", "factorized"): apply_dynamic_int8(copy.deepcopy(factorized)),
    }
    best = dict.fromkeys(engines, float("inf"))
    for model in engines.values():  # warm-up
        _fixed_decode(model, features)
    for _ in range(repeats):  # interleaved: a busy moment slows every engine alike
        for key, model in engines.items():
            start = time.perf_counter()
            _fixed_decode(model, features)
            best[key] = min(best[key], time.perf_counter() - start)
    rows = []
    for mode in ("fp32", "dynamic-int8"):
        original, factor = best[(mode, "original")], best[(mode, "factorized")]
        rows.append(
            {
                "size": size,
                "quant": mode,
                "rank_fraction": fraction,
                "tokens": TIME_TOKENS,
                "original_s": round(original, 3),
                "factorized_s": round(factor, 3),
                "ratio": round(factor / original, 3),
                "repeats": repeats,
            }
        )
    return rows


def run(args: argparse.Namespace, argv: list[str] | None) -> dict[str, list]:
    from bench.clips import load_clip

    clips = [load_clip("jfk"), load_clip("mit-en")]
    results: dict[str, list] = {part: [] for part in args.parts}
    for size in args.sizes:
        loaded = _load(size)
        if "params" in results:
            results["params"] += params_rows(loaded, size, args.fractions)
        if "wer" in results:
            results["wer"] += wer_rows(loaded, size, args.fractions, clips)
        if "time" in results:
            results["time"] += time_rows(loaded, size, args.time_fraction, args.repeats, clips[0])
        del loaded
        gc.collect()
    rows = [{"part": part, **row} for part, part_rows in results.items() for row in part_rows]
    write_results(args.out, "lowrank", meta("bench.lowrank", argv), rows)
    return results


def format_results(results: dict[str, list]) -> str:
    """Markdown tables, one per part."""
    out = []
    for part, rows in results.items():
        if not rows:
            continue
        columns = [c for c in rows[0] if not c.startswith("text_")]
        out.append(f"\n{part}\n\n| " + " | ".join(columns) + " |")
        out.append("|" + "---|" * len(columns))
        out += ["| " + " | ".join(str(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.lowrank", description=__doc__)
    parser.add_argument("--sizes", nargs="+", default=list(SIZES))
    parser.add_argument("--fractions", nargs="+", type=float, default=list(FRACTIONS))
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--time-fraction", type=float, default=0.25)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    print(format_results(run(args, argv)))


if __name__ == "__main__":
    main()
