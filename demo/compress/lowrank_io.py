"""Save a low-rank model (demo.compress.lowrank) as a folder and rebuild it on a fresh base.

The folder holds ``lowrank_config.json`` (format, base model, targets, rank per module,
parameter counts) and, for a fine-tuned model, ``lowrank_model.safetensors`` with all of its
weights (tied weights once; fp32, or fp16 to halve it). Without weights the factors are the SVD
of the freshly loaded base, weighted by the saved token counts for a token-weighted start (an
untrained factorization, or the frozen factors of a LoRA run, whose ``adapter/`` lies beside
the folder); a per-module fingerprint of the saved factors makes a different SVD (other base
weights) fail loudly rather than mis-apply an adapter. Only safetensors load; a folder made for
another base is refused in one sentence.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from demo.compress.lowrank import (
    CALIBRATION_CLIPS,
    CONSTRAIN_EVERY,
    FFN_TARGETS,
    Factorization,
    LowRankConfig,
    LowRankLinear,
    count_parameters,
    factorization_of,
    linear_weight,
    lowrank_modules,
    replace_linear,
    tied_embeddings,
    token_row_weights,
    unwrap_peft,
)
from demo.errors import CompressionError

CONFIG_FILE = "lowrank_config.json"
WEIGHTS_FILE = "lowrank_model.safetensors"
# An activation-aware start's input moments (module path -> d_in x d_in, float64), saved when
# the weights are not: with the base and the counts they rebuild its factors exactly.
MOMENTS_FILE = "input_moments.safetensors"
FOLDER = "lowrank"  # a training run saves its low-rank model in <run>/lowrank/
ADAPTER_BESIDE = "adapter"  # a LoRA run's adapter, beside lowrank/ (training.runs.ADAPTER_DIR)
FORMAT = "lowrank-v1"
PROBE_SEED = 0  # the fixed random vector the SVD fingerprint projects each factor on
MAX_CONFIG_BYTES = 4 * 1024 * 1024
SAVE_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def _fingerprint(down: torch.Tensor) -> str:
    """Signs of each row of A projected on a fixed random vector, as hex: a sign flip or a
    reordering of singular vectors changes it."""
    generator = torch.Generator().manual_seed(PROBE_SEED)
    probe = torch.randn(down.shape[1], generator=generator, dtype=torch.float64)
    bits = "".join("1" if v > 0 else "0" for v in (down.detach().cpu().double() @ probe))
    return f"{int(bits, 2):0{(len(bits) + 3) // 4}x}"


def _tied_keys(model: nn.Module) -> set[str]:
    """State-dict keys whose tensor is another key's (Whisper's proj_out is embed_tokens)."""
    seen: set[int] = set()
    tied = set()
    for key, value in model.state_dict(keep_vars=True).items():
        if value.numel() and value.data_ptr() in seen:
            tied.add(key)
        seen.add(value.data_ptr())
    return tied


def _is_peft(model: nn.Module) -> bool:
    return hasattr(model, "get_base_model") or any(
        hasattr(m, "base_layer") for m in model.modules()
    )


def save_lowrank(
    model: nn.Module,
    folder: str | Path,
    base_name: str,
    *,
    weights: bool = True,
    dtype: str = "fp32",
) -> Path:
    """Write ``folder/lowrank_config.json`` and, with ``weights``, the model's safetensors.

    ``weights=False`` saves only the structure (the factors are the SVD of ``base_name``, with
    a token-weighted start's counts): enough for an untrained factorization or the frozen
    factors of a LoRA run, whose adapter is saved beside it. ``dtype="fp16"`` halves the
    weights file. Returns the folder.
    """
    from demo.provenance import write_json_atomic

    if dtype not in SAVE_DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(SAVE_DTYPES)}, not {dtype!r}.")
    record = factorization_of(model)
    peft = _is_peft(model)
    if weights and peft:
        raise CompressionError(
            "This model carries a PEFT adapter: save the adapter with save_pretrained and the "
            "factors with weights=False, or merge the adapter first."
        )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    base = unwrap_peft(model)
    config = {
        "format": FORMAT,
        "base_model": base_name,
        **record.summary(),
        "modules": record.modules,
        "weights": WEIGHTS_FILE if weights else None,
        "dtype": dtype if weights else None,
        "adapter": peft,  # a LoRA run: its adapter/ folder lies beside this one
        "fingerprints": None
        if weights
        else {n: _fingerprint(linear_weight(m.down)) for n, m in lowrank_modules(base).items()},
        # A token-weighted start's counts: with the base they rebuild its factors exactly.
        "token_counts": None
        if record.token_counts is None
        else {str(t): c for t, c in sorted(record.token_counts.items())},
    }
    if weights:
        from safetensors.torch import save_file

        tied = _tied_keys(base)
        cast = SAVE_DTYPES[dtype]
        state = {
            k: (v.to(cast) if v.is_floating_point() else v).detach().cpu().contiguous()
            for k, v in base.state_dict().items()
            if k not in tied
        }
        save_file(state, str(folder / WEIGHTS_FILE), metadata={"format": FORMAT, "base": base_name})
    elif record.input_moments is not None:
        from safetensors.torch import save_file

        moments = {k: v.contiguous() for k, v in record.input_moments.items()}
        save_file(moments, str(folder / MOMENTS_FILE), metadata={"format": FORMAT})
    write_json_atomic(folder / CONFIG_FILE, config)
    return folder


def lowrank_folder(path: str | Path) -> Path:
    """The folder holding ``lowrank_config.json``: ``path`` itself or ``path/lowrank``."""
    path = Path(path)
    if (path / CONFIG_FILE).is_file():
        return path
    if (path / FOLDER / CONFIG_FILE).is_file():
        return path / FOLDER
    raise CompressionError(f"{path} holds no {CONFIG_FILE}; it is not a low-rank model folder.")


def read_lowrank_config(folder: str | Path) -> dict[str, Any]:
    """The saved config as a dict, or one sentence saying what is wrong with it."""
    path = lowrank_folder(folder) / CONFIG_FILE
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise CompressionError(f"{path} is too large to be a low-rank config.")
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CompressionError(f"{path} is not valid JSON (cut off while saving?).") from exc
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CompressionError(f"{path} is not a {FORMAT} low-rank config.")
    modules = config.get("modules")
    if (
        not isinstance(config.get("base_model"), str)
        or not isinstance(modules, dict)
        or not all(
            isinstance(m, dict) and {"in", "out", "rank"} <= set(m) for m in modules.values()
        )
    ):
        raise CompressionError(f"{path} lacks its base model or module ranks; re-save it.")
    return config


def _config_of(saved: dict[str, Any], path: Path) -> LowRankConfig:
    try:
        return LowRankConfig(
            targets=tuple(saved.get("targets") or FFN_TARGETS),
            rank_fraction=saved.get("rank_fraction"),
            rank=saved.get("rank"),
            orthogonal=bool(saved.get("orthogonal", True)),
            constrain_every=int(saved.get("constrain_every", CONSTRAIN_EVERY)),
            init=str(saved.get("init", "svd")),
            calibration_clips=int(saved.get("calibration_clips", CALIBRATION_CLIPS)),
            target_ranks=tuple(
                (str(t), int(r)) for t, r in (saved.get("target_ranks") or {}).items()
            ),
        )
    except (AttributeError, TypeError, ValueError) as exc:
        raise CompressionError(f"{path} has an unusable setting ({exc}); re-save it.") from exc


def _load_weights(base: nn.Module, path: Path, made_for: str) -> None:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise CompressionError(f"{path} is not a readable safetensors file (cut off?).") from exc
    current = base.state_dict()
    missing = set(current) - _tied_keys(base) - set(state)
    wrong = [k for k in state if k not in current or current[k].shape != state[k].shape]
    if missing or wrong:
        example = sorted(missing or wrong)[0]
        raise CompressionError(
            f"{path.parent} doesn't fit this model (e.g. {example}); it was made for {made_for}."
        )
    device = next(base.parameters()).device
    state = {k: v.to(device, current[k].dtype) for k, v in state.items()}
    base.load_state_dict(state, strict=False)


def load_lowrank(folder: str | Path, model: nn.Module, base_name: str | None = None) -> nn.Module:
    """Rebuild a saved factorization on a freshly loaded base and load its weights, in place.

    Refuses a folder made for another base (``base_name``, when given, or any module's shape).
    """
    folder = lowrank_folder(folder)
    saved = read_lowrank_config(folder)
    made_for = saved["base_model"]
    if base_name is not None and made_for != base_name:
        raise CompressionError(
            f"{folder} was made for {made_for}, not {base_name}; load it on {made_for}."
        )
    base = unwrap_peft(model)
    if lowrank_modules(base):
        raise CompressionError("This model is factorized already; load a fresh base.")
    present = dict(base.named_modules())
    for name, shape in saved["modules"].items():
        linear = present.get(name)
        if not isinstance(linear, nn.Linear) or (linear.in_features, linear.out_features) != (
            shape["in"],
            shape["out"],
        ):
            raise CompressionError(
                f"{folder} doesn't fit this model (its {name} differs); it was made for {made_for}."
            )
    config = _config_of(saved, folder / CONFIG_FILE)
    # Counts weight the vocabulary rows of a token-weighted start (required) and of an
    # activation-aware one (when it had them).
    weighted = config.init == "token-weighted" or (
        config.init == "activation-aware" and saved.get("token_counts") is not None
    )
    counts = _token_counts(saved, folder) if weighted else None
    moments = None
    if config.init == "activation-aware" and not saved.get("weights"):
        moments = _input_moments(folder, saved["modules"])
    before = count_parameters(base)
    for name, shape in saved["modules"].items():
        linear = present[name]
        if saved.get("weights"):  # the file overwrites them: skip the SVD
            like = {"dtype": linear.weight.dtype, "device": linear.weight.device}
            args = (shape["in"], shape["out"], shape["rank"], linear.bias is not None)
            replace_linear(base, name, LowRankLinear(*args, **like))
        else:  # the SVD again, weighted as factorize weighted the vocabulary rows
            weights = None
            if counts is not None and tied_embeddings(base, linear):
                weights = token_row_weights(_dense(counts, shape["out"], folder))
            moment = None if moments is None else moments[name]
            factors = LowRankLinear.from_linear(linear, shape["rank"], weights, moment)
            replace_linear(base, name, factors)
    if saved.get("weights"):
        _load_weights(base, folder / WEIGHTS_FILE, made_for)
    else:
        _check_fingerprints(base, saved.get("fingerprints") or {}, folder)
    source = saved.get("token_source") if isinstance(saved.get("token_source"), dict) else None
    record = Factorization(
        config, saved["modules"], before, count_parameters(base), counts, moments, source
    )
    base.lowrank_factorization = record
    return model


def _input_moments(folder: Path, modules: dict[str, Any]) -> dict[str, torch.Tensor]:
    """A structure-only activation-aware folder's input moments, one per factorized module."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = folder / MOMENTS_FILE
    try:
        moments = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise CompressionError(
            f"{folder} holds neither weights nor the input moments its activation-aware "
            f"factors were made from ({exc}), so they cannot be rebuilt; re-save it."
        ) from exc
    missing = [name for name in modules if name not in moments]
    if missing:
        raise CompressionError(f"{path} lacks the input moments of {', '.join(missing)}.")
    return moments


def _count(value) -> int | float:
    """A saved count as it was made: a whole number, or a float (general-English counts)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"not a count: {value!r}")
    return value


def _token_counts(saved: dict[str, Any], folder: Path) -> dict[int, int | float] | None:
    """A token-weighted folder's counts; one without weights cannot do without them."""
    raw = saved.get("token_counts")
    if raw is None:
        if saved.get("weights"):
            return None
        raise CompressionError(
            f"{folder} holds neither weights nor the token counts its token-weighted factors "
            "were made from, so they cannot be rebuilt; re-save it."
        )
    try:
        return {int(t): _count(c) for t, c in raw.items()}
    except (AttributeError, TypeError, ValueError) as exc:
        raise CompressionError(f"{folder} has unreadable token counts; re-save it.") from exc


def _dense(counts: dict[int, int | float], vocab_size: int, folder: Path) -> torch.Tensor:
    if any(not 0 <= t < vocab_size or c < 0 for t, c in counts.items()):
        raise CompressionError(
            f"{folder}'s token counts don't fit a {vocab_size}-token vocabulary; re-save it."
        )
    whole = all(isinstance(c, int) for c in counts.values())
    dtype = torch.long if whole else torch.float64
    dense = torch.zeros(vocab_size, dtype=dtype)
    dense[list(counts)] = torch.tensor(list(counts.values()), dtype=dtype)
    return dense


def _check_fingerprints(base: nn.Module, fingerprints: dict[str, str], folder: Path) -> None:
    for name, module in lowrank_modules(base).items():
        expected = fingerprints.get(name)
        if expected is not None and _fingerprint(linear_weight(module.down)) != expected:
            raise CompressionError(
                f"The SVD of {name} here differs from the one {folder} was trained on (other "
                "base weights?); its adapter would not fit."
            )


@dataclass(frozen=True)
class LowRankInfo:
    label: str  # what a dropdown shows: run id, rank, how it was trained
    path: Path  # the folder holding lowrank_config.json
    base: str  # the base model it was made for
    adapter: Path | None  # the LoRA adapter beside it (LoRA on the factors), if any
    kind: str = "lowrank"  # demo.compress.choices


def lowrank_info(folder: str | Path) -> LowRankInfo:
    """What a low-rank model folder (or its run folder) holds, checked: base, label, adapter.

    A folder whose weights or adapter is missing (weights are never committed) gives one
    sentence."""
    folder = lowrank_folder(folder)
    saved = read_lowrank_config(folder)
    adapter = folder.parent / ADAPTER_BESIDE if saved.get("adapter") else None
    if saved.get("weights") and not (folder / WEIGHTS_FILE).is_file():
        raise CompressionError(
            f"{folder} has no {WEIGHTS_FILE} (trained weights are not committed); retrain it "
            "with its run's command."
        )
    if adapter is not None and not adapter.is_dir():
        raise CompressionError(f"{folder.parent.name}'s LoRA adapter folder is missing.")
    how = "LoRA" if adapter else "fine-tuned" if saved.get("weights") else "untrained"
    ranks = "/".join(str(r) for r in sorted({m["rank"] for m in saved["modules"].values()}))
    label = f"{folder.parent.name} (low-rank r={ranks}, {how})"
    return LowRankInfo(label, folder, saved["base_model"], adapter)


def list_lowrank(root: str | Path, base: str | None = None) -> list[LowRankInfo]:
    """Low-rank models under ``root/<run>/lowrank/`` that can load (optionally for one base).

    Folders whose weights file or adapter is absent (weights are not committed) are left out,
    as are links leading out of ``root``.
    """
    from demo.adapters import saved_under

    found = saved_under(root, f"*/{FOLDER}/{CONFIG_FILE}", lowrank_info)
    return [info for info in found if base is None or info.base == base]
