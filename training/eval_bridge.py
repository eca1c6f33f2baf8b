"""Score saved bridges on one split of a manifest: WER/CER through the bottleneck vs plain Whisper.

    python -m training.eval_bridge --manifest data/sci/manifest.jsonl --split test \\
        --bridges checkpoints/bridge-asr-tiny.en-q8/bridge \\
        checkpoints/bridge-asr-tiny.en-q32/bridge \\
        --pooled 8 32 --out checkpoints/bench/bridge_wer_vs_queries.json

Every bridge must read the same encoder (its bridge.json names it). The split's clips are
encoded once into a feature cache beside the manifest (shared with training when the clips
are the same); the unmodified Whisper's greedy transcripts of the same clips, decoded from
all 1500 encoder frames, give the upper bound. One row per bridge (Nq, WER, CER, MiniLM
similarity: cosine of all-MiniLM-L6-v2 sentence embeddings, not the thesis's BERTScore) plus
the Whisper row go to ``--out`` as JSON and to stdout as a table.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from demo.errors import DemoError
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
    device: str = option("auto", "auto, cpu or cuda")
    out: str | None = option(None, "write the result rows here (JSON)")

    def __post_init__(self) -> None:
        if not self.manifest:
            raise ValueError("Give --manifest data/.../manifest.jsonl.")
        if not self.bridges and not (self.pooled and self.encoder):
            raise ValueError("Give one or more --bridges folders (or --pooled N with --encoder).")
        if any(not 1 <= n <= 1500 for n in self.pooled):
            raise ValueError("--pooled takes frame counts from 1 to 1500.")
        if self.no_repeat_ngram < 0:
            raise ValueError("no_repeat_ngram must be 0 (off) or more.")


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
    from demo.bridge.model import load_bridge, read_bridge_config
    from demo.bridge.qformer import segment_means
    from demo.metrics import embedding_similarity
    from demo.models import load_whisper_base
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
            if r.get(SPLIT_COLUMN) == config.split][: config.max_samples]  # fmt: skip
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

    def transcribe(decode) -> list[str]:
        predictions = []
        for start in range(0, len(keys), config.batch_size):
            chunk = keys[start : start + config.batch_size]
            features, mask = pad_features([cache.features(k) for k in chunk])
            with torch.no_grad():
                predictions += decode(features.to(device), mask.to(device))
        return predictions

    results = []
    for path in config.bridges:
        bridge = load_bridge(path, encoder=encoder, device=device)
        predictions = transcribe(lambda f, m, b=bridge: transcribe_bridge(
            b, whisper, processor, f, m, **decoding))  # fmt: skip
        results.append(_row(path, "bridge", bridge.num_queries, references, predictions, config))
    for count in config.pooled:
        predictions = transcribe(lambda f, m, n=count: transcribe_memory(
            whisper, processor, segment_means(f.float(), m, n), **decoding))  # fmt: skip
        name = f"{encoder} on frames pooled to {count}"
        results.append(_row(name, "pooled", count, references, predictions, config))
    whisper_texts = [cache.reference_text(k) or "" for k in keys]
    results.append(_row(f"whisper {encoder}", "whisper", None, references, whisper_texts, config))
    for row in results:
        row["minilm_similarity"] = embedding_similarity(references, row.pop("_predictions"))
    return results


def _row(name, kind, num_queries, references, predictions, config) -> dict[str, Any]:
    """``kind``: "bridge" (trained), "pooled" (no training) or "whisper" (every frame)."""
    from demo.metrics import asr_scores

    scores = asr_scores(references, predictions, language=config.language or "en")
    return {
        "system": str(name),
        "kind": kind,
        "num_queries": num_queries,
        "split": config.split,
        "clips": len(references),
        "wer": scores["wer"],
        "cer": scores["cer"],
        "no_repeat_ngram": config.no_repeat_ngram if kind != "whisper" else None,
        "example": predictions[0],
        "_predictions": predictions,
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
        rows = evaluate(config)
    except (DemoError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for row in rows:
        queries = "-" if row["num_queries"] is None else row["num_queries"]
        wer, cer, sim = (100 * row[k] for k in ("wer", "cer", "minilm_similarity"))
        name = row["system"][-60:]
        print(f"{name:<60} Nq {queries:>4}  WER {wer:6.2f}  CER {cer:6.2f}  MiniLM {sim:5.1f}")
    if config.out:
        write_json_atomic(Path(config.out), {"command": command_line(), "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
