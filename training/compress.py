"""Compression before training (``--compress``): change the base's structure, then train it.

Each method is a function ``(model, config, entry, data) -> (model, CompressionHooks)`` (the
last: the run's ``TaskData`` or None, for a method that calibrates on the training set: its
tokenized targets, its examples), registered
in ``COMPRESSIONS``; ``training.modeling.make_trainable`` runs it after loading the base and
before any adapter, and the loop calls the hooks (``TrainableModel`` carries them): after each
optimizer step, for extra fields of each metrics line, for run.json, and to save the model.

- ``lowrank`` (demo.compress.lowrank): fc1/fc2 (by default) become semi-orthogonal low-rank
  factors; a full fine-tune re-imposes the constraint every ``--constrain-every`` steps and
  saves ``<run>/lowrank/`` (config + safetensors); with LoRA on the frozen factors only the
  config is saved beside ``adapter/`` (the factors are the SVD of the base, weighted by the
  saved token counts with ``--lowrank-init token-weighted``, and whitened by the saved input
  moments with ``activation-aware``, which reads them off the first training examples). The
  counts come from ``--lowrank-token-source`` (``training.token_sources``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class CompressionHooks:
    """What a compression method asks of the training loop (every field optional)."""

    after_optimizer_step: Callable[[int], None] | None = None  # steps taken, this one included
    metrics: Callable[[], dict[str, Any]] | None = None  # extra fields of each metrics line
    run_fields: dict[str, Any] = field(default_factory=dict)  # RunInfo fields: system, extra
    # (run folder, final) -> True when it saved the model's weights itself (the loop then skips
    # its own save of a full fine-tune; adapters are always saved by the loop).
    save_outputs: Callable[[Path, bool], bool] | None = None
    # parameter -> multiple of --lr it trains at (the optimizer's parameter groups); None: 1.
    lr_scale: Callable[[Any], float] | None = None


def _lowrank(model, config, entry, data):
    from demo.compress.lowrank import (
        constrain,
        factorize,
        input_moments,
        lowrank_modules,
        orthogonality_error,
    )
    from demo.compress.lowrank_io import FOLDER, save_lowrank
    from training.token_sources import token_counts

    lowrank = config.lowrank_config()
    counts = moments = source = None
    if lowrank.init != "svd":  # --lowrank-token-source: the transcripts (+ general English)
        token_ids = data.train_token_ids if data is not None else None
        tokenizer = data.tokenizer if data is not None else None
        counts, source = token_counts(config, token_ids, tokenizer, model.config.vocab_size)
    if lowrank.init == "activation-aware":
        batches = calibration_batches(model, data, lowrank.calibration_clips)
        moments = input_moments(model, lowrank.targets, batches)
    model, record = factorize(model, lowrank, counts, moments, source)
    full = config.method == "full"
    every = lowrank.constrain_every

    def after_step(steps: int) -> None:
        if steps % every == 0:
            constrain(model)

    # The new factors may learn faster than the rest of a full fine-tune (--factor-lr-scale).
    factors = {id(p) for m in lowrank_modules(model).values() for p in (m.down.weight, m.up.weight)}

    def lr_scale(param) -> float:
        return config.factor_lr_scale if id(param) in factors else 1.0

    def save(run_dir: Path, final: bool) -> bool:
        # A full fine-tune's weights once, at the end (like save_pretrained in the loop); the
        # structure of a LoRA run once too (its factors are frozen: the SVD of the base).
        if final:
            dtype = "fp16" if config.save_fp16 else "fp32"
            save_lowrank(model, run_dir / FOLDER, entry.name, weights=full, dtype=dtype)
        return full

    hooks = CompressionHooks(
        # With LoRA the factors are frozen: nothing moves A away from orthonormal.
        after_optimizer_step=after_step if full and lowrank.orthogonal else None,
        metrics=lambda: {"orthogonality_error": orthogonality_error(model)},
        run_fields={"system": "lowrank", "extra": {"lowrank": record.summary()}},
        save_outputs=save,
        lr_scale=lr_scale if full and config.factor_lr_scale != 1 else None,
    )
    return model, hooks


def calibration_batches(model, data, clips: int):
    """The first ``clips`` training examples, one a batch (no padding), as model keyword
    arguments on the model's device, with a progress bar (a few seconds a clip for base)."""
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    count = min(len(data.train), clips)
    for index in tqdm(range(count), desc="calibrating (layer inputs)", unit="clip", leave=False):
        batch = data.collate([data.train[index]])
        yield {k: v.to(device) for k, v in batch.items() if hasattr(v, "to")}


# --compress value -> method; "none" leaves the base as loaded.
COMPRESSIONS: dict[str, Callable] = {"lowrank": _lowrank}


def compress(model, config, entry, data=None) -> tuple[Any, CompressionHooks]:
    """Apply the config's ``compress`` method (if any) to a freshly loaded base; ``data``: the
    run's ``TaskData``, for a method that calibrates on the training set."""
    name = getattr(config, "compress", "none")
    if name == "none":
        return model, CompressionHooks()
    return COMPRESSIONS[name](model, config, entry, data)
