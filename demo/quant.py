"""Quantization modes: how a model is loaded (dtype, bitsandbytes config) and post-processed.

A mode is resolved once, when the model loads (``demo.models.load_model``): ``auto`` becomes
the fastest mode measured to match full precision for that kind of model on that device,
the mode is checked against the model kind and the device, and its post-load conversion runs
inside the load. bitsandbytes is imported only when a bnb mode is asked for (PEFT's "avoid
eager bnb import"). Asking for a mode where it can't run raises one clear sentence.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

from demo.errors import QuantizationUnavailableError, unknown_choice


@dataclass(frozen=True)
class QuantMode:
    name: str  # registry name
    label: str  # what the app shows
    devices: tuple[str, ...]  # "cpu" and/or "cuda"
    cpu_dtype: str = "float32"  # weights / compute dtype on CPU
    cuda_dtype: str = "float16"  # weights / compute dtype on CUDA
    bnb: str | None = None  # "int8", "nf4" or None
    double_quant: bool = False  # NF4 double quantization of the scales
    dynamic_int8: bool = False  # torch.ao dynamic int8 of every nn.Linear after loading
    fast: bool = False  # Whisper rebuilt by demo.asr.fast after loading (CPU speed path)
    int4: str | None = None  # LLM decode path of demo.summarize.int4 (its activation rounding)
    adapters: bool = True  # whether a merged adapter keeps its effect in this mode
    kinds: tuple[str, ...] = ("asr", "seq2seq", "llm")  # model kinds the mode applies to
    note: str = ""  # caveat shown beside results


QUANT_MODES: dict[str, QuantMode] = {
    m.name: m
    for m in [
        QuantMode("full", "full precision (fp32 on CPU, fp16 on GPU)", ("cpu", "cuda")),
        QuantMode("fp32", "fp32", ("cpu", "cuda"), cuda_dtype="float32"),
        QuantMode("fp16", "fp16", ("cuda",)),
        QuantMode("bf16", "bf16", ("cpu", "cuda"), cpu_dtype="bfloat16", cuda_dtype="bfloat16"),
        QuantMode(
            "int8",
            "int8 (bitsandbytes LLM.int8)",
            ("cpu", "cuda"),
            bnb="int8",
            note="bitsandbytes int8 kernels are made for training memory, not speed: "
            "expect it to be slower than full precision.",
        ),
        QuantMode("nf4", "4-bit NF4 (bitsandbytes)", ("cpu", "cuda"), bnb="nf4"),
        QuantMode(
            "nf4-dq", "4-bit NF4 + double quant", ("cpu", "cuda"), bnb="nf4", double_quant=True
        ),  # fmt: skip
        QuantMode("dynamic-int8", "torch dynamic int8 (CPU)", ("cpu",), dynamic_int8=True),
        QuantMode(
            "int4",
            "weight-only int4 decode, fp32 activations (CPU)",
            ("cpu",),
            int4="split",
            kinds=("llm",),
            adapters=False,
            note="New tokens are decoded with int4 weights (the bundled SmolLM2's own Q4_1 "
            "grid) and split-bf16 activations; the prompt runs in fp32.",
        ),
        QuantMode(
            "int4-bf16",
            "weight-only int4 decode, bf16 activations (CPU)",
            ("cpu",),
            int4="bf16",
            kinds=("llm",),
            adapters=False,
            note="New tokens are decoded with int4 weights and bf16 activations; "
            "the prompt runs in fp32.",
        ),
        QuantMode(
            "fast-int8",
            "fast CPU (int8 decoder, bf16/int8 encoder)",
            ("cpu",),
            cpu_dtype="float16",  # only the source of the rebuild: halves the load's memory
            fast=True,
            kinds=("asr",),
        ),
    ]
}
AUTO = "auto"
# What ``auto`` resolves to, per model kind and device: the fastest mode whose accuracy was
# measured to match full precision (README "Quantization modes" gives the measurements).
AUTO_MODES: dict[tuple[str, str], str] = {
    ("asr", "cpu"): "fast-int8",
    ("asr", "cuda"): "full",
    ("seq2seq", "cpu"): "full",
    ("seq2seq", "cuda"): "full",
    # New tokens in int4 on the model's own Q4_1 grid: the one mode at 2x fp32 `generate`
    # within 0.5 ROUGE-L (README "LLM summarizer" has the measurements). With an adapter auto
    # is full (``ADAPTER_AUTO``).
    ("llm", "cpu"): "int4",
    ("llm", "cuda"): "full",
}


# What auto becomes where the AUTO_MODES choice can't carry an adapter: a merged LoRA moves the
# weights off the bundled model's 4-bit grid, and regrouping them anew cost the ACLSum LoRA
# adapter 9.6 ROUGE-L points on 10 test papers.
ADAPTER_AUTO = "full"


def _not_cast_warning(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("MatMul8bitLt: inputs will be cast")


def available_quant_modes(kind: str | None = None) -> list[str]:
    """``auto`` and every quantization mode (only those for ``kind`` when given)."""
    return [AUTO] + [n for n, m in QUANT_MODES.items() if kind is None or kind in m.kinds]


def get_quant_mode(name: str) -> QuantMode:
    """Look up a concrete quantization mode; unknown names list the valid ones."""
    if name not in QUANT_MODES:
        raise unknown_choice("quantization mode", name, available_quant_modes())
    return QUANT_MODES[name]


def check_quant_name(name: str) -> None:
    """Raise the unknown-choice error for a name that is neither ``auto`` nor a mode."""
    if name != AUTO:
        get_quant_mode(name)


def resolve_quant(name: str, kind: str, device: str, *, adapter: bool = False) -> QuantMode:
    """The concrete mode ``name`` means for a ``kind`` model ("asr", "seq2seq", "llm") on a
    resolved ``device`` (cpu or cuda), with or without an ``adapter``, checked to apply to
    that kind and run there."""
    if name == AUTO:
        name = AUTO_MODES[(kind, device)]
        if adapter and not get_quant_mode(name).adapters:
            name = ADAPTER_AUTO
    mode = get_quant_mode(name)
    if adapter and not mode.adapters:
        raise QuantizationUnavailableError(
            f"Quantization mode {name!r} decodes the base model's own 4-bit weights, which a "
            f"merged adapter leaves; pick {ADAPTER_AUTO} or auto for an adapter."
        )
    if kind not in mode.kinds:
        fits = [n for n in available_quant_modes(kind) if n != AUTO]
        raise QuantizationUnavailableError(
            f"Quantization mode {name!r} is for {' and '.join(mode.kinds)} models only; "
            f"pick one of: {', '.join(fits)}."
        )
    check_mode(mode, device)
    return mode


def resolve_device(device: str) -> str:
    """Turn ``auto`` into ``cuda`` or ``cpu``; refuse ``cuda`` where there is none."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda"):
        raise unknown_choice("device", device, ["auto", "cpu", "cuda"])
    if device == "cuda" and not torch.cuda.is_available():
        raise QuantizationUnavailableError("CUDA was asked for but no GPU is visible; use cpu.")
    return device


def check_mode(mode: QuantMode, device: str) -> None:
    """Raise a clear error if ``mode`` can't run on ``device`` here."""
    import torch

    if device not in mode.devices:
        where = " or ".join(mode.devices)
        raise QuantizationUnavailableError(
            f"Quantization mode {mode.name!r} runs only on {where}, not on {device}; "
            f"pick another mode (e.g. {'full' if device == 'cpu' else 'fp16'})."
        )
    if device == "cuda" and mode.cuda_dtype == "bfloat16" and not torch.cuda.is_bf16_supported():
        raise QuantizationUnavailableError("This GPU has no bf16 support; use fp16.")
    if mode.bnb:
        # bnb warns on every int8 matmul that fp32 inputs are cast to fp16 (expected on CPU),
        # through `warnings` in older releases and through `logging` in newer ones.
        warnings.filterwarnings("ignore", message="MatMul8bitLt: inputs will be cast")
        bnb_logger = logging.getLogger("bitsandbytes.autograd._functions")
        if _not_cast_warning not in bnb_logger.filters:
            bnb_logger.addFilter(_not_cast_warning)
        try:
            import bitsandbytes  # noqa: F401
        except Exception as exc:  # ImportError or a broken native library
            raise QuantizationUnavailableError(
                f"Quantization mode {mode.name!r} needs bitsandbytes, which can't load here "
                f"({type(exc).__name__}); `pip install bitsandbytes` or pick full or dynamic-int8."
            ) from exc


def torch_dtype(mode: QuantMode, device: str):
    """The torch dtype the model's unquantized parts are held in."""
    import torch

    return getattr(torch, mode.cuda_dtype if device == "cuda" else mode.cpu_dtype)


def from_pretrained_kwargs(mode: QuantMode, device: str, skip_modules: list[str] | None = None):
    """Keyword arguments for ``from_pretrained`` that realise ``mode`` on ``device``."""
    dtype = torch_dtype(mode, device)
    kwargs: dict = {"dtype": dtype}
    if mode.bnb:
        from transformers import BitsAndBytesConfig

        if mode.bnb == "int8":
            config = BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skip_modules)
        else:
            config = BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_use_double_quant=mode.double_quant,
                bnb_4bit_compute_dtype=dtype,
                llm_int8_skip_modules=skip_modules,
            )
        kwargs["quantization_config"] = config
        kwargs["device_map"] = {"": 0 if device == "cuda" else "cpu"}
    return kwargs


def post_load(mode: QuantMode, model):
    """What a mode does to a model after ``from_pretrained`` (and any adapter merge)."""
    if mode.fast:
        if getattr(getattr(model, "config", None), "model_type", None) != "whisper":
            raise QuantizationUnavailableError(
                f"Quantization mode {mode.name!r} is for Whisper models only; "
                "pick dynamic-int8 for a summarizer."
            )
        from demo.asr.fast import to_fast

        return to_fast(model)
    if mode.dynamic_int8:
        return apply_dynamic_int8(model)
    if mode.int4:
        from demo.summarize.int4 import apply_int4

        return apply_int4(model, mode.int4)
    return model


def apply_dynamic_int8(model):
    """Quantize every ``nn.Linear`` to int8 with dynamic activation scales (CPU inference).

    Weights get one scale per output channel: with a single scale per matrix (torch's
    default), SmolLM2-135M's summaries fall into loops of one sentence, while per-channel
    scales cost nothing extra in fbgemm's kernels.
    """
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        # torch 2.13 warns that torch.ao eager quantization will move to torchao.
        warnings.filterwarnings("ignore", message=r"torch\.ao\.quantization is deprecated")
        warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor, torch\.quant")
        return quantize_dynamic(
            model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8
        )
