"""Training options as frozen dataclasses; ``demo.options`` makes the CLI flags from the fields.

Every flag has the name of its field (``--batch-size`` sets ``batch_size``; the underscore
spelling works too), so the command line, ``run.json``'s ``config`` and the code can't drift
apart. Defaults for LoRA and the AdaLoRA schedule follow PEFT's Whisper AdaLoRA example
(``examples/int8_training/run_adalora_whisper_int8.sh``); learning rates and batch sizes per
Whisper size follow the thesis (``assets/reference/thesis_whisper_hparams.csv``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from demo.metrics import METRICS
from demo.options import option
from demo.provenance import output_name
from training.distill import DistillOptions
from training.lowrank_options import LowRankOptions

METHODS = ("full", "lora", "adalora")
# Quantization modes (demo.quant) a base can be trained in; dynamic-int8 has no backward pass.
TRAIN_PRECISIONS = ("fp32", "full", "fp16", "bf16", "int8", "nf4", "nf4-dq")
MIXED_PRECISION = ("no", "fp16", "bf16")
# PEFT's Whisper example: LoRA on q/v, AdaLoRA on every attention and feed-forward projection.
WHISPER_LORA_TARGETS = ("q_proj", "v_proj")
WHISPER_ADALORA_TARGETS = ("k_proj", "q_proj", "v_proj", "out_proj", "fc1", "fc2")
# Structural compression before training (demo.compress): none, or low-rank factors.
# LoRA on a low-rank model adapts the factors (Prasad et al.: LoRA on the low-rank Whisper).
LOWRANK_LORA_TARGETS = ("down", "up")
# Decoder-only LMs (Llama, Qwen2 blocks): every attention and MLP projection. QLoRA (Dettmers
# et al. 2023, sec. 4) found LoRA on all linear layers needed to match full fine-tuning, and
# on a 135M model the MLP adapters cost little: 2.4M parameters at r=8 (1.8%).
LLM_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
# Learning rates when nothing else says: PEFT's seq2seq LoRA examples and transformers' default.
ASR_ADAPTER_LR = 1e-3
SUMMARIZER_ADAPTER_LR = 1e-3
SUMMARIZER_FULL_LR = 5e-5
SUMMARIZER_BATCH_SIZE = 8


def _help(text: str, default=None, aliases: tuple[str, ...] = ()):
    return option(default, text, aliases)


@dataclass(frozen=True)
class TrainConfig:
    """Options shared by ASR and summarizer training; subclasses add the task's data columns."""

    # The methods a config accepts; a research system's config (train_bridge) names its own.
    methods: ClassVar[tuple[str, ...]] = METHODS

    model: str = _help("registry name, hub id or local checkpoint of the base model", default="")
    method: str = _help("full, lora or adalora", default="lora")
    quant: str = _help(
        "base weights' quantization: fp32, full (fp32 on CPU, fp16 on GPU), fp16, bf16, int8, "
        "nf4, nf4-dq",
        default="fp32",
        aliases=("precision",),  # the flag's name before it was quant, as in the app and CLI
    )
    # data
    train: str | None = _help("training manifest (.jsonl or .csv)", default=None)
    validation: str | None = _help(
        "validation manifest; default: the train manifest's split column, else --val-fraction",
        default=None,
    )
    dataset: str | None = _help("Hugging Face dataset name or local dataset folder", default=None)
    dataset_config: str | None = _help("dataset configuration name (e.g. a language)", default=None)
    train_split: str = _help("dataset split to train on", default="train")
    validation_split: str = _help("dataset split to validate on", default="validation")
    val_fraction: float = _help("share of train rows held out when there is no split", default=0.1)
    max_train_samples: int | None = _help("use at most this many training rows", default=None)
    max_val_samples: int | None = _help("use at most this many validation rows", default=None)
    max_test_samples: int | None = _help("score at most this many test rows", default=None)
    sample_seed: int | None = _help(
        "with --max-*-samples: rows drawn at random with this seed (the same rows for every "
        "run with the same seed, in manifest order) instead of the first N",
        default=None,
    )
    strict: bool = _help("fail on the first bad row instead of skipping and counting it", False)
    # schedule
    epochs: int = _help("passes over the training data", default=3)
    max_steps: int | None = _help("stop after this many optimizer steps (overrides epochs)", None)
    batch_size: int | None = _help("per-process batch; default from the model size", default=None)
    eval_batch_size: int | None = _help("validation batch (default: batch size)", default=None)
    grad_accum: int = _help("micro-batches per optimizer step", default=1)
    lr: float | None = _help("peak learning rate; default from the model size and method", None)
    weight_decay: float = _help("AdamW weight decay", default=0.0)
    warmup_steps: int = _help("linear warm-up steps", default=0)
    max_grad_norm: float = _help("gradient clipping norm (0 = off)", default=1.0)
    gradient_checkpointing: bool = _help("trade compute for activation memory", default=False)
    mixed_precision: str = _help("no, fp16 or bf16 autocast (GPU)", default="no")
    seed: int = _help("data order, dropout and initialisation", default=0)
    # evaluation and saving
    eval_steps: int | None = _help("also evaluate every N optimizer steps", default=None)
    eval_more_at_start: bool = _help(
        "score the test split (and real speech) before training as well as after it; off, "
        "only after (a grid scores its shared base model once)",
        default=True,
    )
    keep_best: str | None = _help(
        "a validation metric (wer, loss, rougeL...): end on the weights of the validation "
        "evaluation best at it, not the last one's (the test split scores them, they are saved)",
        default=None,
    )
    save_steps: int = _help("write resume state every N optimizer steps", default=50)
    num_beams: int = _help("beam width when generating for evaluation", default=1)
    max_new_tokens: int = _help("longest generated output during evaluation", default=128)
    # adapters (PEFT's LoraConfig / AdaLoraConfig fields)
    r: int = _help("LoRA rank; AdaLoRA's average target rank (target_r)", default=8)
    lora_alpha: int = _help("LoRA scaling numerator", default=32)
    lora_dropout: float = _help("dropout on the adapter input", default=0.1)
    target_modules: str | None = _help("comma-separated module names (default per model)", None)
    init_r: int | None = _help("AdaLoRA starting rank (default: 1.5 x r)", default=None)
    tinit: int = _help("AdaLoRA warm-up steps before pruning (scaled down for short runs)", 100)
    tfinal: int = _help("AdaLoRA final steps at the fixed budget (scaled down likewise)", 800)
    deltaT: int = _help("AdaLoRA steps between budget re-allocations", default=10)  # noqa: N815
    orth_reg_weight: float = _help("AdaLoRA orthogonality regularisation weight", default=0.5)
    # where
    device: str = _help("auto, cpu or cuda", default="auto")
    output_dir: str = _help("folder holding run folders", default="checkpoints")
    run_id: str | None = _help("run folder name (default: task-model-mode-time)", default=None)
    resume: str | None = _help("continue the run in this folder (or run id) from its state", None)
    num_workers: int = _help("DataLoader worker processes", default=0)
    save_fp16: bool = _help(
        "save the trained weights in fp16, half the size (an adapter, or a low-rank model)", False
    )

    def __post_init__(self) -> None:
        if self.method not in self.methods:
            raise ValueError(
                f"method must be one of {', '.join(self.methods)}, not {self.method!r}."
            )
        if self.quant not in TRAIN_PRECISIONS:
            raise ValueError(
                f"quant must be one of {', '.join(TRAIN_PRECISIONS)}, not {self.quant!r}."
            )
        if self.method == "full" and self.quant not in ("fp32", "full", "bf16"):
            raise ValueError(
                "Full fine-tuning needs an unquantized fp32 or bf16 base; use --quant fp32, "
                "or train an adapter (--method lora) on an int8/nf4 base."
            )
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(f"mixed_precision must be one of {', '.join(MIXED_PRECISION)}.")
        if self.train is None and self.dataset is None and self.resume is None:
            raise ValueError("Give training data: --train manifest.jsonl or --dataset <name>.")
        if self.train is not None and self.dataset is not None:
            raise ValueError("Give either --train (a manifest) or --dataset, not both.")
        positive = ("epochs", "grad_accum", "save_steps", "r", "num_beams", "max_new_tokens")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1.")
        for name in ("max_steps", "batch_size", "eval_batch_size", "eval_steps", "init_r"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1 (or left out).")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError("val_fraction must be in [0, 1).")
        if self.lr is not None and not 0.0 < self.lr < 1.0:
            raise ValueError(f"lr must be above 0 and below 1 (or left out), not {self.lr}.")
        for name in ("weight_decay", "warmup_steps", "max_grad_norm"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more.")
        if self.keep_best is not None:
            allowed = [key for key, metric in METRICS.items() if metric.task != "cost"]
            if self.keep_best not in (*allowed, "loss"):
                raise ValueError(
                    f"keep_best must be a metric ({', '.join(allowed)} or loss), "
                    f"not {self.keep_best!r}."
                )
            if self.method == "adalora":
                raise ValueError(
                    "keep_best does not work with AdaLoRA: it prunes ranks as it trains, so an "
                    "earlier evaluation's weights do not fit its final rank pattern."
                )
        if self.run_id is not None:
            output_name(self.run_id, "--run-id")
        if self.init_r is not None and self.init_r < self.r:
            raise ValueError("init_r must be at least r (AdaLoRA prunes from init_r down to r).")

    @property
    def rank(self) -> int | None:
        """The rank recorded in run.json: r for adapters, None for full fine-tuning."""
        return None if self.method == "full" else self.r


@dataclass(frozen=True)
class AsrConfig(DistillOptions, LowRankOptions, TrainConfig):
    """A Whisper fine-tuning run; its low-rank compression flags are ``LowRankOptions``, its
    distillation flags ``DistillOptions``."""

    model: str = _help("Whisper registry name (tiny.en, base...), hub id or folder", "tiny.en")
    audio_column: str = _help("manifest/dataset column with the audio path or audio", "audio")
    text_column: str = _help("manifest/dataset column with the transcript", default="text")
    language: str | None = _help("transcript language for multilingual models (e.g. en)", None)
    max_label_tokens: int = _help("transcripts longer than this many tokens are cut", 448)
    eval_real_speech: bool = _help(
        "also score real human speech before and after training: the real-speech set (make "
        "real-speech) and the two recordings in assets/samples",
        True,
    )
    real_speech_manifest: str = _help(
        "the real-speech set's manifest (without it: the two sample recordings, warned)",
        "data/real-speech/manifest.jsonl",
    )
    real_speech_clips: int | None = _help(
        "score only the set's first N clips at each evaluation (default: all)", None
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_lowrank()
        self.check_distill()
        if self.real_speech_clips is not None and self.real_speech_clips < 1:
            raise ValueError("--real-speech-clips must be at least 1 (leave it out for all).")


@dataclass(frozen=True)
class SummarizerConfig(TrainConfig):
    model: str = _help("summarizer registry name, hub id or folder", default="t5-small")
    text_column: str = _help("manifest/dataset column with the document", default="text")
    summary_column: str = _help("manifest/dataset column with the reference summary", "summary")
    language: str | None = _help("summary language for ROUGE tokenisation (e.g. en, ru)", "en")
    max_source_tokens: int = _help("documents are cut to this many tokens", default=512)
    max_target_tokens: int = _help("reference summaries are cut to this many tokens", default=128)
    sweep_r: str | None = _help("comma-separated ranks: one run per rank, e.g. 4,8,16", None)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sweep_r is not None:
            ranks = sweep_ranks(self.sweep_r)
            if self.method == "full":
                raise ValueError("--sweep-r varies the adapter rank; use --method lora or adalora.")
            if self.run_id is not None and len(ranks) > 1:
                raise ValueError("--run-id names one run; leave it out with --sweep-r.")


def sweep_ranks(value: str) -> list[int]:
    """Parse ``"4,8,16"`` into ranks, refusing anything that is not a positive integer."""
    try:
        ranks = [int(part) for part in value.split(",") if part.strip()]
    except ValueError as exc:
        raise ValueError(
            f"--sweep-r takes comma-separated integers, e.g. 4,8,16, not {value!r}."
        ) from exc
    if not ranks or any(r < 1 for r in ranks):
        raise ValueError(f"--sweep-r takes positive ranks, e.g. 4,8,16, not {value!r}.")
    return ranks
