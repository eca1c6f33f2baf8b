"""Make a base model trainable: load it through ``demo`` and add LoRA/AdaLoRA (or not).

Loading goes through ``demo.models`` and ``demo.quant`` only, so a model is quantized the
same way for training as for serving. A quantized base gets PEFT's
``prepare_model_for_kbit_training`` (QLoRA); Whisper's first encoder convolution is made to
output tensors that require grad, because its input features never do and gradient
checkpointing would otherwise cut the graph (PEFT's Whisper int8 example does the same).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from demo.errors import DemoError
from demo.quant import get_quant_mode
from training.compress import CompressionHooks, compress
from training.config import (
    LLM_LORA_TARGETS,
    LOWRANK_LORA_TARGETS,
    WHISPER_ADALORA_TARGETS,
    WHISPER_LORA_TARGETS,
    TrainConfig,
)

log = logging.getLogger(__name__)

ADALORA_BETA = 0.85  # PEFT's Whisper AdaLoRA example: beta1 = beta2 = 0.85
# Where the AdaLoRA schedule doesn't fit a short run: warm up for this share of the steps and
# hold the final budget for that share, like 100 / 800 of a few thousand steps in PEFT's example.
ADALORA_SHORT_TINIT = 0.1
ADALORA_SHORT_TFINAL = 0.3


@dataclass
class TrainableModel:
    model: Any  # the (PEFT-wrapped) model being trained
    processor: Any  # WhisperProcessor or tokenizer
    entry: Any  # demo.registry WhisperModel / SummarizerModel
    quantized: bool  # base held in bitsandbytes int8/nf4
    trainable_params: int = 0
    total_params: int = 0
    schedule: dict[str, int] = field(default_factory=dict)  # AdaLoRA's effective schedule
    hooks: CompressionHooks = field(default_factory=CompressionHooks)  # --compress's, for the loop

    @property
    def trainable_pct(self) -> float:
        return 100.0 * self.trainable_params / self.total_params if self.total_params else 0.0


def precision_label(precision: str, device: str) -> str:
    """What run.json calls the base precision: fp32/fp16/bf16/int8/nf4 (the charts' names)."""
    mode = get_quant_mode(precision)
    if mode.bnb:
        return mode.bnb
    dtype = mode.cuda_dtype if device == "cuda" else mode.cpu_dtype
    return {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}[dtype]


def load_base(config: TrainConfig, task: str, device: str, device_index: int | None = None):
    """(model, processor, entry) for the config's base model at its precision, via ``demo``."""
    from demo.asr.registry import get_whisper_model
    from demo.loaders import BASE_LOADERS, load_whisper_base
    from demo.summarize.registry import get_summarizer

    mode = get_quant_mode(config.quant)
    extra = {}
    if mode.bnb and device == "cuda" and device_index is not None:
        extra["device_map"] = {"": device_index}  # each DDP process holds its own copy
    if task == "asr":
        entry = get_whisper_model(config.model)
        model, processor = load_whisper_base(entry, config.quant, device, **extra)
    else:
        entry = get_summarizer(config.model)
        if entry.kind not in ("seq2seq", "llm"):
            raise DemoError(
                f"{entry.name} has no weights to train; pick a seq2seq or LLM summarizer such "
                "as t5-small or smollm2-135m, or a hub id or local checkpoint."
            )
        model, processor = BASE_LOADERS[entry.kind](entry, config.quant, device, **extra)
    if mode.bnb:
        # bitsandbytes logs a warning on every int8 matmul with fp32 inputs (expected on CPU).
        logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    model.config.use_cache = False  # the decoder's cache is useless (and warned about) in training
    return model, processor, entry


def adalora_schedule(config: TrainConfig, total_steps: int) -> dict[str, int]:
    """AdaLoRA's tinit/tfinal, scaled down when PEFT's defaults leave no budgeting phase."""
    tinit, tfinal = config.tinit, config.tfinal
    if tinit >= total_steps - tfinal:
        tinit = int(total_steps * ADALORA_SHORT_TINIT)
        tfinal = int(total_steps * ADALORA_SHORT_TFINAL)
    init_r = config.init_r if config.init_r is not None else max(config.r, round(config.r * 1.5))
    return {
        "init_r": init_r,
        "target_r": config.r,
        "tinit": tinit,
        "tfinal": tfinal,
        "deltaT": config.deltaT,
        "total_step": total_steps,
    }


def _targets(config: TrainConfig, task: str, entry) -> list[str] | None:
    if config.target_modules:
        return [t.strip() for t in config.target_modules.split(",") if t.strip()]
    if getattr(config, "compress", "none") == "lowrank":
        return list(LOWRANK_LORA_TARGETS)
    if task == "asr":
        return list(WHISPER_ADALORA_TARGETS if config.method == "adalora" else WHISPER_LORA_TARGETS)
    if getattr(entry, "kind", None) == "llm":
        return list(LLM_LORA_TARGETS)
    return None  # PEFT knows the defaults of T5, BART and mBART


def _task_type(task: str, entry) -> str | None:
    if task == "asr":
        return None  # PEFT's Whisper example sets none
    return "CAUSAL_LM" if getattr(entry, "kind", None) == "llm" else "SEQ_2_SEQ_LM"


def _keep_4bit_weights_trainable(model) -> None:
    # On a CPU with AVX512-BF16, bitsandbytes repacks a 4-bit weight for fast inference the
    # first time it runs in eval mode, and from then on multiplies with a kernel that has no
    # backward pass: after the epoch-0 evaluation, gradients would stop flowing through every
    # quantized layer (and layers narrower than one 64-value block fail outright).
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False


def _require_grad_output(module, inputs, output):
    output.requires_grad_(True)


def make_trainable(
    model,
    processor,
    entry,
    config: TrainConfig,
    task: str,
    total_steps: int,
    data=None,
) -> TrainableModel:
    """Apply compression, k-bit preparation, gradient checkpointing and the config's adapter.
    ``data`` (the run's ``TaskData``) calibrates a compression that uses the training set."""
    model, hooks = compress(model, config, entry, data)
    quantized = get_quant_mode(config.quant).bnb is not None
    checkpointing = {"use_reentrant": False}
    if quantized:
        from peft import prepare_model_for_kbit_training

        _keep_4bit_weights_trainable(model)

        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=config.gradient_checkpointing,
            gradient_checkpointing_kwargs=checkpointing,
        )
    elif config.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=checkpointing)
    if task == "asr" and config.method != "full":
        model.model.encoder.conv1.register_forward_hook(_require_grad_output)

    schedule: dict[str, int] = {}
    if config.method == "full":
        for parameter in model.parameters():
            parameter.requires_grad_(True)
        trainable = sum(p.numel() for p in model.parameters())
        return TrainableModel(model, processor, entry, quantized, trainable, trainable, hooks=hooks)

    from peft import AdaLoraConfig, LoraConfig, get_peft_model

    common = {
        "lora_alpha": config.lora_alpha,
        "lora_dropout": config.lora_dropout,
        "target_modules": _targets(config, task, entry),
        "task_type": _task_type(task, entry),
    }
    if config.method == "lora":
        peft_config = LoraConfig(r=config.r, **common)
    else:
        schedule = adalora_schedule(config, total_steps)
        peft_config = AdaLoraConfig(
            beta1=ADALORA_BETA,
            beta2=ADALORA_BETA,
            orth_reg_weight=config.orth_reg_weight,
            **schedule,
            **common,
        )
    model = get_peft_model(model, peft_config)
    # adapter_config.json names the registry entry, which is what the app matches adapters on.
    model.peft_config["default"].base_model_name_or_path = entry.name
    trainable, total = model.get_nb_trainable_parameters()
    return TrainableModel(model, processor, entry, quantized, trainable, total, schedule, hooks)


def trainable_state(model) -> dict[str, Any]:
    """The parameters that train (adapter weights, or everything), on the CPU."""
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}


def load_trainable_state(model, state: dict[str, Any]) -> None:
    """Copy a ``trainable_state`` back into the model; names must match exactly."""
    import torch

    params = dict(model.named_parameters())
    missing = [name for name in state if name not in params]
    if missing:
        raise DemoError(
            f"The resume state doesn't fit this model ({len(missing)} unknown parameters, "
            f"e.g. {missing[0]}); was the run's config changed?"
        )
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value.to(params[name].device, params[name].dtype))


def adalora_allocator_state(model) -> dict[str, Any] | None:
    """AdaLoRA's importance averages and rank pattern, which the optimizer state doesn't hold."""
    allocator = (
        getattr(model.base_model, "rankallocator", None) if hasattr(model, "base_model") else None
    )
    if allocator is None:
        return None
    config = model.peft_config["default"]
    return {
        "ipt": {k: v.cpu() for k, v in allocator.ipt.items()},
        "exp_avg_ipt": {k: v.cpu() for k, v in allocator.exp_avg_ipt.items()},
        "exp_avg_unc": {k: v.cpu() for k, v in allocator.exp_avg_unc.items()},
        "rank_pattern": config.rank_pattern,
    }


def load_adalora_allocator_state(model, state: dict[str, Any]) -> None:
    allocator = model.base_model.rankallocator
    device = next(model.parameters()).device
    for name in ("ipt", "exp_avg_ipt", "exp_avg_unc"):
        setattr(allocator, name, {k: v.to(device) for k, v in state[name].items()})
    model.peft_config["default"].rank_pattern = state["rank_pattern"]
