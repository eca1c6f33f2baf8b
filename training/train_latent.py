"""Latent-space compression of Whisper (demo.compress.latent), trained in the one loop.

    python -m training.make_speech_corpus --out data/espeak --num-utterances 300
    # (a) the autoencoder on frozen encoder outputs; validation feeds its reconstruction to
    #     the frozen decoder: WER (and reconstruction error) per latent size
    python -m training.train_latent --stage autoencoder --model tiny.en \\
        --train data/sci/manifest.jsonl --sweep-latent 320,256,192,128,64 --epochs 3
    # (b) the narrow decoder at one latent, the autoencoder fixed, distilling the original
    #     decoder's logits and the transcripts
    python -m training.train_latent --stage decoder --model tiny.en \\
        --train data/sci/manifest.jsonl --autoencoder checkpoints/<run of (a) at 256> --epochs 10
    python -m bench.latent_whisper --manifest data/sci/manifest.jsonl --runs checkpoints/<runs>

Stage ``autoencoder`` trains only the autoencoder (MSE between its reconstruction and the
encoder output; the decoder isn't run in training). Its validation lines carry ``wer``,
``cer``, ``loss`` (the frozen decoder's cross-entropy on the reconstruction),
``reconstruction_mse`` and ``reconstruction_fvu`` (error / variance of the encoder output).
Stage ``decoder`` rebuilds the decoder at ``d_model = latent`` (randomly initialised, as in
the paper) and trains it on ``(1 - w) * cross-entropy + w * T^2 * KL(teacher || student)``,
the original decoder being the teacher (``--distill-weight 0``: the transcripts only). Both
write ``checkpoints/<run>/``: ``run.json`` (``system: latent``; ``extra`` holds the latent,
widths, heads and parameter counts), ``metrics.jsonl`` and ``checkpoint-final/`` (the
autoencoder, or the whole compressed model for ``LatentModel.from_pretrained``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from demo.options import option
from training.cli import run_cli
from training.config import AsrConfig
from training.train_asr import AsrTask

PROG = "python -m training.train_latent"

MB = 1024 * 1024
STAGES = ("autoencoder", "decoder")
# Learning rates when none is given: both stages train new weights from scratch (the thesis'
# Whisper rates are for fine-tuning pre-trained weights and far too small here).
STAGE_LR = {"autoencoder": 1e-3, "decoder": 5e-4}


@dataclass(frozen=True)
class LatentAsrConfig(AsrConfig):
    method: str = option("full", "what trains is trained in full (the only choice here)")
    stage: str = option("autoencoder", "autoencoder (stage a) or decoder (stage b)")
    latent: int | None = option(None, "latent width; stage decoder: the autoencoder's")
    sweep_latent: str | None = option(None, "comma-separated latents: one autoencoder run each")
    autoencoder: str | None = option(None, "stage decoder: a stage-autoencoder run (or folder)")
    distill_weight: float = option(0.5, "share of the KL-to-original-decoder term in the loss")
    distill_temperature: float = option(2.0, "softmax temperature of the distillation term")
    encoder_cache_mb: int = option(
        2048, "keep the frozen encoder's outputs for later epochs, up to this many MB (0: off)"
    )

    def check_distill(self) -> None:
        """Its teacher is the original decoder (stage decoder), not ``--distill-from``."""
        if self.distill_from is not None:
            raise ValueError(
                "Latent training distils from the original decoder itself; leave out "
                "--distill-from (--distill-weight sets its share)."
            )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.method != "full":
            raise ValueError("Latent compression trains its new parts in full; use --method full.")
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {', '.join(STAGES)}, not {self.stage!r}.")
        if self.resume is not None:
            return
        if self.stage == "autoencoder" and self.latent is None and self.sweep_latent is None:
            raise ValueError("Give the latent width: --latent 256 or --sweep-latent 320,256,128.")
        if self.stage == "decoder" and self.autoencoder is None:
            raise ValueError("Stage decoder needs --autoencoder (a stage-autoencoder run).")
        if self.stage == "decoder" and self.sweep_latent is not None:
            raise ValueError(
                "--sweep-latent is for stage autoencoder; run stage decoder per latent."
            )
        if not 0.0 <= self.distill_weight <= 1.0:
            raise ValueError("distill_weight must be in [0, 1].")
        if self.distill_temperature <= 0:
            raise ValueError("distill_temperature must be positive.")
        for value in latents(self.sweep_latent) if self.sweep_latent else [self.latent or 1]:
            if value < 1:
                raise ValueError("Latent widths must be positive.")


def latents(value: str) -> list[int]:
    """Parse ``"320,256,128"``, refusing anything that is not an integer."""
    try:
        return [int(part) for part in value.split(",") if part.strip()]
    except ValueError as exc:
        raise ValueError(
            f"--sweep-latent takes integers, e.g. 320,256,128, not {value!r}."
        ) from exc


def autoencoder_folder(value: str, output_dir: str) -> Path:
    """The folder holding ``latent.json`` for a run folder, run id or the folder itself."""
    from demo.compress.autoencoder import LATENT_FILE, LatentError
    from training.runs import FULL_MODEL_DIR

    for base in (Path(value), Path(output_dir) / value):
        for folder in (base, base / FULL_MODEL_DIR):
            if (folder / LATENT_FILE).is_file():
                return folder
    raise LatentError(f"{value} holds no trained autoencoder; run --stage autoencoder first.")


class EncoderCache:
    """The frozen encoder's output per training example, so that later epochs skip the
    encoder: keyed by a hash of the example's encoder input, kept up to ``limit_mb``."""

    def __init__(self, limit_mb: int) -> None:
        self.limit = limit_mb * MB
        self.used = 0
        self.items: dict[bytes, Any] = {}

    def hidden(self, encoder, inputs: dict):
        """The encoder output of ``inputs`` (a padded batch), from the cache where it can."""
        import torch

        source = inputs[encoder.main_input_name]
        mask = inputs.get("attention_mask")
        lengths = [int(n) for n in mask.sum(1)] if mask is not None else [None] * len(source)
        keys = [_key(row[:n] if n else row) for row, n in zip(source, lengths, strict=True)]
        if all(key in self.items for key in keys):
            stored = [self.items[key] for key in keys]
            longest = mask.shape[1] if mask is not None else max(len(h) for h in stored)
            out = stored[0].new_zeros((len(stored), longest, stored[0].shape[-1]))
            for i, h in enumerate(stored):
                out[i, : len(h)] = h
            return out
        with torch.no_grad():
            out = encoder.encode(**inputs)[0]
        for i, key in enumerate(keys):
            item = out[i, : lengths[i]] if lengths[i] else out[i]
            size = item.numel() * item.element_size()
            if key not in self.items and self.used + size <= self.limit:
                self.items[key] = item.clone()
                self.used += size
        return out


def _key(row) -> bytes:
    import hashlib

    return hashlib.blake2b(
        row.detach().cpu().contiguous().numpy().tobytes(), digest_size=16
    ).digest()


class LatentTask:
    """A base task (ASR by default) with the model rebuilt for latent compression: the data,
    generation and scores are the base task's."""

    config_cls = LatentAsrConfig

    def __init__(self, base=None) -> None:
        self.base = base if base is not None else AsrTask()
        self.name = self.base.name
        self.teacher = None  # the original model, for distillation (stage decoder)
        self.probe = None  # the ReconstructionProbe (stage autoencoder)
        self.facts: dict[str, Any] = {}  # run.json extra

    def data(self, config, processor, entry):
        return self.base.data(config, processor, entry)

    def default_hparams(self, config, entry) -> tuple[float, int]:
        _, batch_size = self.base.default_hparams(config, entry)
        return STAGE_LR[config.stage], batch_size

    def make_trainable(self, model, processor, entry, config, total_steps: int):
        """The probe (stage autoencoder) or the compressed model (stage decoder)."""
        from demo.compress.autoencoder import Autoencoder, autoencoder_widths, load_autoencoder
        from demo.compress.latent import (
            Distillation,
            LatentError,
            ReconstructionProbe,
            compress,
            decoder_parameters,
            unique_parameters,
        )
        from training.modeling import TrainableModel

        self.teacher = self.probe = None
        self.cache = EncoderCache(config.encoder_cache_mb)
        d_model = model.config.d_model
        self.facts = {
            "stage": config.stage,
            "d_model": d_model,
            "original_decoder_params": decoder_parameters(model),
            "original_params": unique_parameters(model),
            "paper": "Alam Falaki & Gras, ICMLA 2022 (github.com/AlaFalaki/compressedBART)",
        }
        if config.stage == "autoencoder":
            autoencoder = Autoencoder(autoencoder_widths(d_model, config.latent))
            wrapped = self.probe = ReconstructionProbe(model, autoencoder)
        else:
            folder = autoencoder_folder(config.autoencoder, config.output_dir)
            autoencoder = load_autoencoder(folder)
            if config.latent is not None and config.latent != autoencoder.latent:
                raise LatentError(
                    f"The autoencoder in {folder} has latent {autoencoder.latent}, not the "
                    f"--latent {config.latent} asked for."
                )
            wrapped = compress(model, autoencoder.latent, autoencoder)
            wrapped.distillation = Distillation(config.distill_weight, config.distill_temperature)
            if config.distill_weight > 0:
                self.teacher = model.eval()
            self.facts.update(
                autoencoder_from=str(folder),
                decoder_params=decoder_parameters(wrapped),
                heads=wrapped.heads,
                notes=wrapped.notes,
                distill_weight=config.distill_weight,
                distill_temperature=config.distill_temperature,
            )
        self.facts.update(
            latent=autoencoder.latent,
            widths=list(autoencoder.widths),
            autoencoder_params=unique_parameters(autoencoder),
        )
        trainable = sum(p.numel() for p in wrapped.parameters() if p.requires_grad)
        total = unique_parameters(wrapped)
        return TrainableModel(wrapped, processor, entry, False, trainable, total)

    def prepare_batch(self, model, batch: dict) -> dict:
        """In training, the frozen encoder's output comes from the cache (or runs once), and
        the teacher's logits and the student's latent input are both computed from it."""
        import torch
        from transformers.modeling_outputs import BaseModelOutput

        from demo.compress.latent import DECODER_KEYS

        batch = self.base.prepare_batch(model, batch)
        if not model.training:
            return batch
        encoder_inputs = {k: v for k, v in batch.items() if k not in DECODER_KEYS}
        hidden = self.cache.hidden(model.encoder, encoder_inputs)
        student = {k: v for k, v in batch.items() if k in DECODER_KEYS}
        mask = batch.get("attention_mask")
        if mask is not None:
            student["attention_mask"] = mask
        if self.probe is not None:
            return {**student, "encoder_hidden": hidden}
        with torch.no_grad():
            student["encoder_outputs"] = BaseModelOutput(
                last_hidden_state=model.encoder.project(hidden)
            )
            if self.teacher is not None:
                student["teacher_logits"] = self.teacher(
                    encoder_outputs=BaseModelOutput(last_hidden_state=hidden),
                    attention_mask=mask,
                    labels=batch["labels"],
                ).logits
        return student

    def generate(self, model, processor, entry, config, batch: dict) -> list[str]:
        return self.base.generate(model, processor, entry, config, batch)

    def score(self, config, references: list[str], predictions: list[str]) -> dict:
        scores = self.base.score(config, references, predictions)
        if self.probe is not None:
            scores.update(self.probe.pop_scores())
        return scores

    def run_fields(self, entry) -> dict[str, Any]:
        return {**self.base.run_fields(entry), "system": "latent", "extra": dict(self.facts)}


def sweep(config: LatentAsrConfig) -> list[LatentAsrConfig]:
    """One config per ``--sweep-latent`` width, each with a run id naming stage and latent."""
    from training.runs import make_run_id

    if config.resume is not None:
        return [config]
    widths = latents(config.sweep_latent) if config.sweep_latent else [config.latent]
    configs = []
    for width in widths:
        one = replace(config, latent=width, sweep_latent=None)
        if one.run_id is None:
            if width is None:  # stage decoder: the autoencoder's latent
                from demo.compress.autoencoder import read_info

                folder = autoencoder_folder(one.autoencoder, one.output_dir)
                width = read_info(folder)["widths"][-1]
            mode = f"latent-{'ae' if one.stage == 'autoencoder' else 'dec'}-z{width}"
            one = replace(
                one, run_id=make_run_id("asr", one.model, mode, None, Path(one.output_dir))
            )
        configs.append(one)
    return configs


def main(argv: list[str] | None = None) -> int:
    return run_cli(LatentAsrConfig, LatentTask(), argv, prog=PROG, doc=__doc__, expand=sweep)


if __name__ == "__main__":
    sys.exit(main())
