"""Distillation from a fine-tuned teacher while training (``--distill-from``).

The loss of each training batch becomes ``(1 - w) CE + w T² KL(teacher_T || student_T)``:
``CE`` the model's own cross-entropy of the labels, ``KL`` the divergence of the student's
temperature-``T`` softmax from the teacher's, summed over the vocabulary and averaged over the
label positions (padding left out), as CE is (``demo.compress.distill``, shared with the latent
decoder's training); ``T²`` keeps the soft targets' gradients on CE's scale (Hinton et al.
2015). ``w`` is ``--distill-weight``, ``T``
``--distill-temperature``. The teacher is a Whisper checkpoint folder in safetensors (a full
fine-tune's ``checkpoint-final``), frozen, in eval mode, run without gradients on the same batch;
it must share the student's vocabulary. Validation loss stays plain CE, comparable across runs.

The loop asks the task for an ``Objective`` (``AsrTask.objective``): the loss callable, the
facts run.json keeps (teacher path and the SHA-256 of its weights), and the interval's CE and
KL for the metrics lines.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from demo.compress.distill import soft_target_kl
from demo.options import option
from training.objective import Objective

DEFAULT_WEIGHT = 0.5  # with --distill-from and no --distill-weight
DEFAULT_TEMPERATURE = 2.0
MAX_TEMPERATURE = 100.0
HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class DistillOptions:
    # Whether this run type trains with a --distill-from teacher (the research systems built on
    # AsrConfig do not; train_latent distils from its own original decoder).
    takes_teacher: ClassVar[bool] = True

    distill_from: str | None = option(
        None, "distil from this teacher while training: a Whisper checkpoint folder in "
        "safetensors with the same vocabulary (e.g. a full fine-tune's checkpoint-final)"
    )  # fmt: skip
    distill_weight: float | None = option(
        None, f"share of the loss from the teacher, 0..1 (default {DEFAULT_WEIGHT} with "
        "--distill-from)"
    )  # fmt: skip
    distill_temperature: float | None = option(
        None, f"softmax temperature of teacher and student (default {DEFAULT_TEMPERATURE} "
        "with --distill-from)"
    )  # fmt: skip

    def check_distill(self) -> None:
        """Refuse, in one sentence, distillation flags that cannot describe a run; fill in the
        defaults when ``--distill-from`` is given (run.json records what was used). Whether the
        teacher folder is there is ``check_files``'s (a grid's commands parse before any run
        has made it)."""
        if self.distill_from is not None and not self.takes_teacher:
            raise ValueError(
                "--distill-from is for Whisper fine-tuning (python -m training.train_asr); "
                "this run type takes no teacher."
            )
        if self.distill_from is None:
            if self.distill_weight is not None or self.distill_temperature is not None:
                raise ValueError(
                    "--distill-weight and --distill-temperature need a teacher: add "
                    "--distill-from <checkpoint folder>."
                )
            return
        if self.distill_weight is None:
            object.__setattr__(self, "distill_weight", DEFAULT_WEIGHT)
        if self.distill_temperature is None:
            object.__setattr__(self, "distill_temperature", DEFAULT_TEMPERATURE)
        if not 0.0 <= self.distill_weight <= 1.0:
            raise ValueError(
                f"--distill-weight must be between 0 and 1 (the teacher's share of the loss), "
                f"not {self.distill_weight:g}."
            )
        if not 0.0 < self.distill_temperature <= MAX_TEMPERATURE:
            raise ValueError(
                f"--distill-temperature must be above 0 and at most {MAX_TEMPERATURE:g}."
            )

    def check_files(self) -> None:
        """Refuse, before any model loads, a teacher folder that is missing or not safetensors."""
        if self.distill_from is not None:
            teacher_files(self.distill_from)


def teacher_files(folder: str | Path) -> list[Path]:
    """The teacher folder's safetensors files; one sentence if it is not such a folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"--distill-from {folder}: no such folder.")
    files = sorted(folder.glob("*.safetensors"))
    if not files or not (folder / "config.json").is_file():
        raise ValueError(
            f"--distill-from {folder} holds no config.json and *.safetensors weights; give a "
            "Whisper checkpoint folder such as checkpoints/<run>/checkpoint-final."
        )
    return files


def weights_sha256(files: list[Path]) -> str:
    """SHA-256 over the weight files' bytes, in name order: which teacher a run learnt from."""
    digest = hashlib.sha256()
    for path in files:
        with path.open("rb") as handle:
            while chunk := handle.read(HASH_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def load_teacher(folder: str | Path, student_config, tokenizer, device, dtype=None) -> Any:
    """The teacher, frozen and in eval mode on ``device`` in ``dtype`` (the student's input
    features' dtype; None: as saved); refused in one sentence if its vocabulary differs from
    the student's (its size, or the tokenizer the folder holds)."""
    from transformers import AutoConfig, WhisperForConditionalGeneration

    folder = Path(folder)
    teacher_files(folder)
    config = AutoConfig.from_pretrained(folder)
    if config.model_type != "whisper" or config.vocab_size != student_config.vocab_size:
        raise ValueError(
            f"--distill-from {folder} is not a Whisper model with the student's "
            f"{student_config.vocab_size}-token vocabulary; pick a teacher of the same family "
            "(tiny.en and base.en share one; multilingual models have another)."
        )
    if tokenizer is not None and (folder / "tokenizer.json").is_file():
        from transformers import AutoTokenizer

        if AutoTokenizer.from_pretrained(folder).get_vocab() != tokenizer.get_vocab():
            raise ValueError(f"--distill-from {folder} has another tokenizer than the student.")
    teacher = WhisperForConditionalGeneration.from_pretrained(folder, use_safetensors=True)
    teacher.to(device=device, dtype=dtype).eval()  # a checkpoint saved in fp16 reads fp32
    teacher.requires_grad_(False)
    return teacher


def distillation_loss(ce, student_logits, teacher_logits, labels, weight: float, temperature):
    """``((1 - w) CE + w T² KL, KL)``; at ``w = 0`` the loss is ``ce`` itself."""
    if weight == 0:
        return ce, ce.new_zeros(())
    kl = soft_target_kl(student_logits, teacher_logits, labels, temperature)
    return (1 - weight) * ce + weight * temperature**2 * kl, kl


class Distillation:
    """The loss callable of a distilling run, with the interval's CE and KL sums."""

    def __init__(self, teacher, weight: float, temperature: float) -> None:
        self.teacher, self.weight, self.temperature = teacher, weight, temperature
        self.sums = [0.0, 0.0, 0]  # CE, KL, batches since the last validation line

    def __call__(self, model, batch: dict):
        import torch

        output = model(**batch)
        teacher_logits = None
        if self.weight > 0:
            with torch.no_grad():
                teacher_logits = self.teacher(**batch).logits
        loss, kl = distillation_loss(
            output.loss, output.logits, teacher_logits, batch["labels"], self.weight,
            self.temperature,
        )  # fmt: skip
        self.sums[0] += float(output.loss.detach())
        self.sums[1] += float(kl.detach())
        self.sums[2] += 1
        return loss

    def metrics(self) -> dict[str, float]:
        """The training CE and KL averaged since the last call (each validation line)."""
        ce, kl, batches = self.sums
        self.sums = [0.0, 0.0, 0]
        return {"train_ce": ce / batches, "train_kl": kl / batches} if batches else {}


def distill_objective(config, trainable, device):
    """The ``Objective`` of ``--distill-from`` (None without it): the teacher
    loaded next to the student, and what run.json records of it."""
    if getattr(config, "distill_from", None) is None:
        return None
    files = teacher_files(config.distill_from)
    processor = trainable.processor
    tokenizer = getattr(processor, "tokenizer", processor)
    model = trainable.model
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    dtype = base.model.encoder.conv1.weight.dtype  # what AsrTask.prepare_batch feeds it
    teacher = load_teacher(config.distill_from, base.config, tokenizer, device, dtype)
    loss = Distillation(teacher, config.distill_weight, config.distill_temperature)
    record = {
        "teacher": str(config.distill_from),
        "teacher_sha256": weights_sha256(files),
        "teacher_params": sum(p.numel() for p in teacher.parameters()),
        "weight": config.distill_weight,
        "temperature": config.distill_temperature,
    }
    return Objective(loss=loss, run_extra={"distill": record}, metrics=loss.metrics)
