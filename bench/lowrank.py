"""Low-rank Whisper (demo.compress.lowrank) before any training: size, accuracy and speed.

    python -m bench.lowrank                      # tiny.en + base, rank fractions 0.125 0.25 0.5
    python -m bench.lowrank --sizes tiny.en --fractions 0.25 --parts params time
    python -m bench.lowrank --parts train     # CPU seconds per training step of each grid arm

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

- ``train`` (not by default): CPU seconds of one optimizer step, batch 8 of 30 s windows with
  20-token labels (Whisper pads every clip to 30 s, so this is the cost of any short clip), for
  full fine-tuning and LoRA r=8 of the original and of the d/4 factorization (constraint every
  4 steps), and of generating 30 tokens for 8 clips (an evaluation batch): the grid's estimates.

Results go to ``checkpoints/bench/lowrank-<parts>.json`` and ``.csv``.
"""

from __future__ import annotations

import argparse
import copy
import gc
import time
from typing import Any

from bench.env import DEFAULT_OUT, add_output_flags, meta, one_line_errors, write_results
from demo.options import OneLineParser

SIZES = ("tiny.en", "base")
FRACTIONS = (0.125, 0.25, 0.5)
PARTS = ("params", "wer", "time", "train")
DEFAULT_PARTS = ("params", "wer", "time")
TRAIN_ARMS = ("original-full", "lowrank-full", "original-lora", "lowrank-lora")
TRAIN_BATCH = 8  # the thesis's batch for tiny and base
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


def _spectra(model, targets: tuple[str, ...]) -> list:
    """Squared singular values of every target layer, largest first."""
    import torch

    from demo.compress.lowrank import matches_target

    return [
        torch.linalg.svdvals(module.weight.detach().double()) ** 2
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and matches_target(name, targets)
    ]


def params_rows(loaded, size: str, fractions) -> list[dict[str, Any]]:
    from demo.compress.lowrank import LowRankConfig, count_parameters, parameter_counts

    total = count_parameters(loaded.model)
    rows = [_size_row(size, "original", None, None, total, total, 1.0)]
    d_model = loaded.model.config.d_model
    for label, targets in _targets().items():
        spectra = _spectra(loaded.model, targets)
        for fraction in fractions:
            config = LowRankConfig(targets=targets, rank_fraction=fraction)
            counts = parameter_counts(loaded.model, config)
            rank = round(fraction * d_model)
            # Share of each layer's squared Frobenius norm the rank-r SVD keeps (mean).
            kept = sum(float(s[:rank].sum() / s.sum()) for s in spectra) / len(spectra)
            rows.append(_size_row(size, label, fraction, rank, total, counts["params_after"], kept))
    return rows


def _size_row(size, targets, fraction, rank, before, after, kept) -> dict[str, Any]:
    return {
        "size": size,
        "targets": targets,
        "rank_fraction": fraction,
        "rank": rank,
        "params": after,
        "reduction_pct": round(100 * (1 - after / before), 2),
        "fp32_mb": round(after * 4 / MB, 1),
        "fp16_mb": round(after * 2 / MB, 1),
        "energy_kept": round(kept, 3),
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


def _train_arm(loaded, arm: str):
    import torch
    from peft import LoraConfig, get_peft_model

    from demo.compress.lowrank import LowRankConfig, factorize

    model = copy.deepcopy(loaded.model)
    model.config.use_cache = False
    if arm.startswith("lowrank"):
        factorize(model, LowRankConfig())
    if arm.endswith("lora"):
        targets = ["down", "up"] if arm.startswith("lowrank") else ["q_proj", "v_proj"]
        config = LoraConfig(r=8, lora_alpha=32, lora_dropout=0.1, target_modules=targets)
        model = get_peft_model(model, config)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    return model.train(), optimizer


def train_rows(loaded, size: str, steps: int) -> list[dict[str, Any]]:
    import torch

    from demo.compress.lowrank import constrain

    config = loaded.model.config
    features = torch.randn(TRAIN_BATCH, config.num_mel_bins, 3000)
    labels = torch.randint(400, 10_000, (TRAIN_BATCH, 20))
    rows = []
    for arm in TRAIN_ARMS:
        model, optimizer = _train_arm(loaded, arm)
        cpu = []
        for step in range(steps + 1):  # the first one warms up
            start = time.process_time()
            model(input_features=features, labels=labels).loss.backward()
            optimizer.step()
            if arm == "lowrank-full" and step % 4 == 0:
                constrain(model)
            optimizer.zero_grad(set_to_none=True)
            cpu.append(time.process_time() - start)
        rows.append(
            {"size": size, "arm": arm, "batch": TRAIN_BATCH, "cpu_s": round(min(cpu[1:]), 2)}
        )
        del model, optimizer
        gc.collect()
    start = time.process_time()
    _fixed_decode(loaded.model, features)
    cpu_s = round(time.process_time() - start, 2)
    rows.append({"size": size, "arm": "eval-generate-30", "batch": TRAIN_BATCH, "cpu_s": cpu_s})
    return rows


def run(args: argparse.Namespace, argv: list[str] | None) -> dict[str, list]:
    from bench.clips import load_clip

    info = meta("bench.lowrank", argv)  # before the run: its load average is the starting one
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
        if "train" in results:
            results["train"] += train_rows(loaded, size, args.train_steps)
        del loaded
        gc.collect()
    # "config" names a row for the dashboard's benchmark reader (it skips rows without one).
    rows = [
        {"part": part, "config": _config(part, row), **row}
        for part, part_rows in results.items()
        for row in part_rows
    ]
    write_results(args.out, f"lowrank-{'-'.join(args.parts)}", info, rows)
    return results


def _config(part: str, row: dict) -> str:
    """ "base time dynamic-int8 0.4375": the part and whichever of its keys the row has."""
    keys = ("size", "quant", "targets", "rank_fraction", "arm")
    named = [str(row[k]) for k in keys[1:] if row.get(k) is not None]
    return " ".join([str(row["size"]), part, *named])


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


@one_line_errors
def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(prog="python -m bench.lowrank", description=__doc__)
    add_output_flags(parser)
    parser.add_argument("--sizes", nargs="+", default=list(SIZES))
    parser.add_argument("--fractions", nargs="+", type=float, default=list(FRACTIONS))
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(DEFAULT_PARTS))
    parser.add_argument("--train-steps", type=int, default=2)
    parser.add_argument("--time-fraction", type=float, default=0.25)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    print(format_results(run(args, argv)))


if __name__ == "__main__":
    main()
