"""Score saved bridges on one split of a manifest: WER/CER through the bottleneck vs plain Whisper.

    python -m training.eval_bridge --manifest data/sci/manifest.jsonl --split test \\
        --bridges checkpoints/bridge-asr-tiny.en-q8/bridge \\
        checkpoints/bridge-asr-tiny.en-q32/bridge \\
        --pooled 8 32 --out checkpoints/bench/bridge_wer_vs_queries.json

Every bridge must read the same encoder (its bridge.json names it). The split's clips are
encoded once into a feature cache beside the manifest (shared with training when the clips
are the same); the unmodified Whisper's greedy transcripts of the same clips, decoded from
all 1500 encoder frames, give the upper bound. One row per bridge (Nq, WER, CER, MiniLM
similarity: cosine of all-MiniLM-L6-v2 sentence embeddings, not the thesis's BERTScore; the
bridge's parameters, all of which train, and weights MB; seconds per clip from the cached
encoder features, the encoder's own time left out as it is the same for every row) plus the
Whisper row go to ``--out`` as JSON and to stdout as a table.

A table can grow over sessions (bridge weights stay out of git): ``--merge`` keeps the rows of
``--out`` that this run does not score again, provided that file's Whisper row is this run's
(the same clips and references), and refuses otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from demo.errors import DemoError
from demo.intervals import MIN_ITEMS, paired_difference, pooled_interval
from demo.options import option


@dataclass(frozen=True)
class EvalBridgeConfig:
    manifest: str = option("", "manifest (.jsonl/.csv) with audio, text and split columns")
    split: str = option("test", "which split's rows to score")
    bridges: tuple[str, ...] = option((), "saved bridge folders (each with bridge.json)")
    pooled: tuple[int, ...] = option(
        (), "also the frozen decoder reading each clip's frames mean-pooled to N (no training)"
    )
    encoder: str | None = option(None, "the Whisper to use when no --bridges name one")
    audio_column: str = option("audio", "manifest column with the audio path")
    text_column: str = option("text", "manifest column with the transcript")
    language: str | None = option(None, "transcript language for a multilingual Whisper")
    margin_frames: int = option(10, "encoder frames kept after each clip's end")
    batch_size: int = option(16, "clips per transcription batch")
    max_new_tokens: int = option(128, "longest bridge transcript (references: 224)")
    num_beams: int = option(1, "beam width (1 = greedy, as the upper bound decodes)")
    no_repeat_ngram: int = option(0, "forbid repeating n-grams of this many tokens (0 = off)")
    max_samples: int | None = option(None, "score at most this many rows")
    max_seconds: float | None = option(
        None, "leave out clips longer than this (manifest column 'seconds'; the encoder reads 30 s)"
    )
    device: str = option("auto", "auto, cpu or cuda")
    out: str | None = option(None, "write the result rows here (JSON)")
    merge: bool = option(
        False, "keep --out's rows this run does not score again (refused if its clips differ)"
    )
    overwrite: bool = option(False, "replace --out when it exists (refused otherwise)")

    def __post_init__(self) -> None:
        if not self.manifest:
            raise ValueError("Give --manifest data/.../manifest.jsonl.")
        if not self.bridges and not (self.pooled and self.encoder):
            raise ValueError("Give one or more --bridges folders (or --pooled N with --encoder).")
        if any(not 1 <= n <= 1500 for n in self.pooled):
            raise ValueError("--pooled takes frame counts from 1 to 1500.")
        if self.no_repeat_ngram < 0:
            raise ValueError("no_repeat_ngram must be 0 (off) or more.")
        if self.merge and not self.out:
            raise ValueError("--merge needs --out, the table to merge into.")


def evaluate(config: EvalBridgeConfig) -> list[dict[str, Any]]:
    """Rows: one per bridge, one per ``pooled`` count (the decoder reading each clip's real
    frames averaged over N equal segments: the pooled shortcut a ``--segments --shortcut``
    bridge starts from, with nothing trained), then the unmodified Whisper on the same clips."""
    import torch

    from demo.asr.registry import get_whisper_model
    from demo.bridge.asr import transcribe_bridge, transcribe_memory
    from demo.bridge.features import (
        CacheItem,
        CacheOptions,
        FeatureCache,
        cache_folder,
        pad_features,
    )
    from demo.bridge.model import WEIGHTS_FILE, load_bridge, read_bridge_config
    from demo.bridge.qformer import segment_means
    from demo.loaders import load_whisper_base
    from demo.metrics import embedding_similarity
    from demo.quant import resolve_device
    from training.data import SPLIT_COLUMN, DataReport, read_manifest, speech_examples

    encoders = {read_bridge_config(b).encoder for b in config.bridges} or {config.encoder}
    if len(encoders) != 1:
        raise DemoError(f"The bridges read different encoders ({', '.join(sorted(encoders))}).")
    encoder = encoders.pop()
    device = resolve_device(config.device)
    manifest = Path(config.manifest)
    report = DataReport(f"{manifest} (split={config.split})")
    rows = [(n, r) for n, r in read_manifest(manifest, report, False)
            if r.get(SPLIT_COLUMN) == config.split and _fits(r, config.max_seconds)
            ][: config.max_samples]  # fmt: skip
    report.rows = len(rows)  # the rows of this split, not the whole manifest
    examples = speech_examples(
        rows, report, audio_column=config.audio_column, text_column=config.text_column,
        base_dir=manifest.parent, strict=False,
    )  # fmt: skip
    print(report.summary(), file=sys.stderr)
    if not examples:
        raise DemoError(f"No usable rows of split {config.split!r} in {manifest}.")
    whisper, processor = load_whisper_base(get_whisper_model(encoder), "full", device)
    whisper.eval()
    items = [CacheItem(f"{config.split}-{i:06d}", e.audio, e.text, config.split)
             for i, e in enumerate(examples)]  # fmt: skip
    options = CacheOptions(
        margin_frames=config.margin_frames, reference_splits=(config.split,),
        language=config.language,
    )  # fmt: skip
    folder = cache_folder(manifest.parent / "features", encoder, options, items)
    cache = FeatureCache.build(folder, items, whisper, processor, encoder, options)
    keys = cache.keys(config.split)
    references = [cache.text(k) for k in keys]
    decoding = {
        "language": config.language, "max_new_tokens": config.max_new_tokens,
        "num_beams": config.num_beams, "no_repeat_ngram": config.no_repeat_ngram,
    }  # fmt: skip

    def transcribe(decode) -> tuple[list[str], float]:
        """Predictions and the seconds they took (the batches' decoding, features loaded)."""
        predictions, seconds = [], 0.0
        for start in range(0, len(keys), config.batch_size):
            chunk = keys[start : start + config.batch_size]
            features, mask = pad_features([cache.features(k) for k in chunk])
            started = time.perf_counter()
            with torch.no_grad():
                predictions += decode(features.to(device), mask.to(device))
            seconds += time.perf_counter() - started
        return predictions, seconds

    results = []
    for path in config.bridges:
        bridge = load_bridge(path, encoder=encoder, device=device)
        predictions, seconds = transcribe(lambda f, m, b=bridge: transcribe_bridge(
            b, whisper, processor, f, m, **decoding))  # fmt: skip
        row = _row(path, "bridge", bridge.num_queries, references, predictions, config, seconds)
        row["params"] = sum(p.numel() for p in bridge.parameters())
        row["weights_mb"] = round(os.path.getsize(Path(path) / WEIGHTS_FILE) / 2**20, 1)
        results.append(row)
    for count in config.pooled:
        predictions, seconds = transcribe(lambda f, m, n=count: transcribe_memory(
            whisper, processor, segment_means(f.float(), m, n), **decoding))  # fmt: skip
        name = f"{encoder} on frames pooled to {count}"
        results.append(_row(name, "pooled", count, references, predictions, config, seconds))
        results[-1]["params"] = 0
    whisper_texts = [cache.reference_text(k) or "" for k in keys]
    results.append(_row(f"whisper {encoder}", "whisper", None, references, whisper_texts, config))
    whisper_errors = results[-1]["_errors"]
    for row in results:
        row["minilm_similarity"] = embedding_similarity(references, row.pop("_predictions"))
        errors = row.pop("_errors")
        if row["kind"] != "whisper" and len(errors) >= MIN_ITEMS:  # paired, on the same clips
            totals = [t for _, t in errors]
            diff = paired_difference([e for e, _ in whisper_errors], [e for e, _ in errors], totals)
            row["wer_vs_whisper"] = [round(v, 4) for v in diff]
    return results


def _fits(row: dict[str, Any], max_seconds: float | None) -> bool:
    if max_seconds is None:
        return True
    try:
        return float(row.get("seconds", 0) or 0) <= max_seconds
    except (TypeError, ValueError):
        return True  # no duration to go by: scored


def merge_rows(rows: list[dict[str, Any]], earlier: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` plus the ``earlier`` rows of systems they do not score again: bridges by Nq,
    then the pooled baselines, then Whisper. Refused (ValueError) unless both tables' Whisper
    rows agree: the same clips, the same references, the same transcripts."""
    same = ("split", "clips", "wer", "cer")
    mine = [r for r in rows if r["kind"] == "whisper"]
    theirs = [r for r in earlier if r.get("kind") == "whisper"]
    if not mine or not theirs or any(mine[0].get(k) != theirs[0].get(k) for k in same):
        raise ValueError(
            "The table in --out was scored on other clips (its Whisper row differs from this "
            "run's), so its rows can't be merged: score every bridge again, or drop --merge."
        )
    scored = {r["system"] for r in rows}
    merged = rows + [r for r in earlier if r.get("system") not in scored]
    order = {"bridge": 0, "pooled": 1, "whisper": 2}
    return sorted(merged, key=lambda r: (order.get(r.get("kind"), 3), r.get("num_queries") or 0))


def _row(name, kind, num_queries, references, predictions, config, seconds=None) -> dict[str, Any]:
    """``kind``: "bridge" (trained), "pooled" (no training) or "whisper" (every frame);
    ``seconds``: the decoding's, over every clip (None: not timed here)."""
    from demo.metrics import asr_scores, word_errors

    language = config.language or "en"
    scores = asr_scores(references, predictions, language=language)
    errors = word_errors(references, predictions, language=language)
    interval = None
    if len(errors) >= MIN_ITEMS:  # WER's 95% bootstrap interval over clips
        low, high = pooled_interval([e for e, _ in errors], [t for _, t in errors])
        interval = [round(low, 4), round(high, 4)]
    return {
        "config": f"{name} · {config.split}",  # the dashboard's label (it skips rows without)
        "system": str(name),
        "kind": kind,
        "num_queries": num_queries,
        "split": config.split,
        "manifest": str(config.manifest),
        "clips": len(references),
        "wer": scores["wer"],
        "cer": scores["cer"],
        "no_repeat_ngram": config.no_repeat_ngram if kind != "whisper" else None,
        "s_per_clip": None if seconds is None else round(seconds / len(references), 4),
        "example": predictions[0],
        "wer_interval": interval,
        "_predictions": predictions,
        "_errors": errors,
    }


def main(argv: list[str] | None = None) -> int:
    from demo.options import add_flags, from_args
    from demo.provenance import command_line, write_json_atomic

    parser = argparse.ArgumentParser(
        prog="python -m training.eval_bridge",
        description=__doc__.split("\n")[0],
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_flags(parser, EvalBridgeConfig)
    try:
        config = from_args(EvalBridgeConfig, parser.parse_args(argv))
        if config.out and Path(config.out).exists() and not (config.merge or config.overwrite):
            raise DemoError(f"{config.out} exists; pass --merge to add to it or --overwrite.")
        earlier = _earlier_rows(Path(config.out)) if config.merge else []
        rows = evaluate(config)
    except (DemoError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_table(rows))
    commands = [command_line()]
    if config.merge:
        try:
            rows = merge_rows(rows, earlier["rows"])
        except ValueError as exc:
            print(f"error: {exc} Nothing was written.", file=sys.stderr)
            return 2
        commands = [*earlier.get("commands", [earlier.get("command")]), *commands]
    if config.out:
        write_json_atomic(Path(config.out), {"commands": commands, "rows": rows})
    return 0


def _earlier_rows(path: Path) -> dict[str, Any]:
    """The table ``--merge`` adds to (checked before any scoring starts)."""
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data.get("rows"), list):
            raise ValueError
        return data
    except (OSError, ValueError, AttributeError) as exc:
        raise ValueError(f"--merge: {path} is not a table eval_bridge wrote ({exc}).") from exc


def format_table(rows: list[dict[str, Any]]) -> str:
    lines = []
    for row in rows:
        queries = "-" if row["num_queries"] is None else row["num_queries"]
        wer, cer, sim = (100 * row[k] for k in ("wer", "cer", "minilm_similarity"))
        speed = "" if row.get("s_per_clip") is None else f"  {row['s_per_clip']:.3f} s/clip"
        name = row["system"][-60:]
        lines.append(
            f"{name:<60} Nq {queries:>4}  WER {wer:6.2f}  CER {cer:6.2f}  MiniLM {sim:5.1f}{speed}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
