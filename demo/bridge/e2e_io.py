"""Build, save, load and find end-to-end models (``demo.bridge.e2e``).

A saved E2E model is a folder: ``e2e.json`` (the ``E2EConfig``, the bridge's shape, package
versions), ``e2e.safetensors`` (the Q-Former's query path and the projection) and, when the
LM was adapted, ``adapter/`` (a PEFT LoRA adapter, safetensors). A training run writes it to
``checkpoints/<run>/e2e/``. Loading refuses, in one sentence, a folder made for another encoder
or LM, and never unpickles anything.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from demo.bridge.e2e import LM_HEAD, LORA_TARGETS, SUMMARY_TASK, E2EConfig, E2EModel, query_path
from demo.errors import DemoError

CONFIG_FILE = "e2e.json"
WEIGHTS_FILE = "e2e.safetensors"
ADAPTER_DIR = "adapter"
E2E_DIR = "e2e"  # inside a run folder
FORMAT = "speech-e2e"
FORMAT_VERSION = 1
DEFAULT_LM = "smollm2-135m"
TRAIN_HINT = (
    "python -m training.grid training/grids/bridge-v2.yaml, then python -m training.grid "
    "training/grids/e2e-v2.yaml (a trained bridge, then the transcribe and summary stages: "
    "several hours on a CPU, resumable)"
)


class E2EError(DemoError):
    """An end-to-end model that is missing, damaged, or made for another encoder or LM."""


@dataclass(frozen=True)
class E2EEntry:
    """A saved E2E model as the model cache sees it (``ModelSpec`` role "e2e")."""

    name: str  # its folder
    kind: str = "e2e"
    encoder: str = ""
    lm: str = ""
    stage: str = ""
    num_queries: int = 0
    lora_rank: int | None = None
    run: str = ""  # the run folder's name

    @property
    def label(self) -> str:
        lora = f", LoRA r{self.lora_rank}" if self.lora_rank else ""
        return f"{self.run} ({self.stage}, {self.encoder}, Nq {self.num_queries}{lora})"


def _lm_entry(name: str):
    from demo.summarize.registry import get_summarizer

    entry = get_summarizer(name)
    if entry.kind != "llm":
        raise E2EError(f"The end-to-end model needs a decoder-only LM, and {name} is not one.")
    return entry


def load_lm(name: str, device: str):
    """The frozen LM (fp32 or the GPU's full precision) and its tokenizer."""
    from demo.bridge.e2e import frozen
    from demo.loaders import load_llm_base

    lm, tokenizer = load_llm_base(_lm_entry(name), "full", device)
    tokenizer.padding_side = "right"  # the E2E batches are laid out left-aligned
    return frozen(lm), tokenizer


def load_encoder(name: str, device: str):
    """The frozen Whisper encoder alone (its decoder is dropped) and its feature extractor."""
    from demo.asr.registry import get_whisper_model
    from demo.loaders import load_whisper_base

    whisper, processor = load_whisper_base(get_whisper_model(name), "full", device)
    return whisper.model.encoder, processor.feature_extractor


def add_lora(lm, rank: int, lm_name: str):
    """A fresh LoRA adapter (q/v projections) on the frozen LM."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.05,
                        target_modules=list(LORA_TARGETS), task_type="CAUSAL_LM")  # fmt: skip
    lm = get_peft_model(lm, config)
    lm.peft_config["default"].base_model_name_or_path = lm_name  # what loading checks
    return lm


def save_e2e(
    model: E2EModel, folder: str | Path, trained_steps: int | None = None, *,
    fp16: bool = False, encoder_fingerprint: str | None = None,
) -> Path:  # fmt: skip
    """Write ``e2e.json``, ``e2e.safetensors`` and (with LoRA) ``adapter/`` into ``folder``;
    ``fp16`` halves both files. The json keeps the frozen LM's ``weights_fingerprint`` (and the
    encoder's, given), which loading checks."""
    import torch
    from safetensors.torch import save_file

    from demo.adapters import halve_adapter
    from demo.provenance import versions, weights_fingerprint, write_json_atomic

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = model.config
    if trained_steps is not None:
        config = replace(config, trained_steps=trained_steps)
    dtype = torch.float16 if fp16 else None
    state = {
        k: v.detach().to("cpu", dtype or v.dtype).contiguous()
        for k, v in model.bridge.state_dict().items()
    }
    save_file(state, str(folder / WEIGHTS_FILE), metadata={"format": FORMAT})
    if config.lora_rank:
        model.lm.save_pretrained(
            folder / ADAPTER_DIR, safe_serialization=True, save_embedding_layers=False
        )
        if fp16:
            halve_adapter(folder / ADAPTER_DIR)
    data = {"format": FORMAT, "version": FORMAT_VERSION, **asdict(config)}
    data["bridge"] = model.bridge.config.to_dict()
    data["base_fingerprint"] = {"lm": weights_fingerprint(model.lm)}
    if encoder_fingerprint or model.encoder is not None:
        data["base_fingerprint"]["encoder"] = encoder_fingerprint or weights_fingerprint(
            model.encoder
        )
    data["versions"] = versions()
    write_json_atomic(folder / CONFIG_FILE, data)
    return folder


def _check_fingerprint(folder: Path, part: str, module, name: str) -> None:
    """Refuse frozen weights other than those the model was trained against (one sentence)."""
    from demo.provenance import weights_fingerprint

    saved = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8")).get("base_fingerprint")
    expected = (saved or {}).get(part) if isinstance(saved, dict) else None
    if expected and weights_fingerprint(module) != expected:
        raise E2EError(
            f"The end-to-end model {folder.parent.name} was trained against other {name} "
            f"weights than the ones loaded here ({part}); train it again on these."
        )


def e2e_folder(path: str | Path) -> Path:
    """The E2E folder a path names: the folder itself or a run folder holding ``e2e/``."""
    path = Path(path)
    if not (path / CONFIG_FILE).is_file() and (path / E2E_DIR / CONFIG_FILE).is_file():
        return path / E2E_DIR
    return path


def read_e2e_config(folder: str | Path):
    """``(E2EConfig, BridgeConfig)`` of a saved E2E model."""
    from demo.bridge.model import bridge_config_from_dict

    path = e2e_folder(folder) / CONFIG_FILE
    if not path.is_file():
        raise E2EError(f"{folder} has no {CONFIG_FILE}; it is not a saved end-to-end model.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError("not an end-to-end model config")
        fields = {k: data[k] for k in E2EConfig.__dataclass_fields__ if k in data}
        fields["stages"] = tuple(fields.get("stages", ()))
        return E2EConfig(**fields), bridge_config_from_dict(data["bridge"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise E2EError(f"{path} is not a valid end-to-end model config ({exc}).") from exc


def check_made_for(config: E2EConfig, encoder: str | None, lm: str | None) -> None:
    """Refuse an E2E model trained for another encoder or LM, in one sentence."""
    if encoder is not None and encoder != config.encoder:
        raise E2EError(
            f"This end-to-end model was trained on Whisper {config.encoder} encoder features "
            f"and can't read {encoder}'s; train one for {encoder} or use {config.encoder}."
        )
    if lm is not None and lm != config.lm:
        raise E2EError(
            f"This end-to-end model was trained for the LM {config.lm}, not {lm}; train one "
            f"for {lm} or use {config.lm}."
        )


def load_e2e(
    folder: str | Path, *, encoder: str | None = None, lm: str | None = None,
    device: str = "cpu", trainable: bool = False, with_encoder: bool = True,
) -> E2EModel:  # fmt: skip
    """Load a saved E2E model; ``encoder`` / ``lm`` refuse one made for others.

    ``trainable`` keeps the Q-Former and the LoRA adapter trainable (a next training stage);
    otherwise the adapter is merged into the LM's weights for faster decoding.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from demo.adapters import check_adapter_dir
    from demo.bridge.model import SpeechBridge

    folder = e2e_folder(folder)
    config, bridge_config = read_e2e_config(folder)
    check_made_for(config, encoder, lm)
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise E2EError(
            f"{folder} has no {WEIGHTS_FILE}; the end-to-end model's weights are missing."
        )
    try:
        state = load_file(str(weights), device=device)
    except (SafetensorError, OSError) as exc:
        raise E2EError(f"Can't read {weights}: {exc}.") from exc
    bridge = query_path(SpeechBridge(bridge_config), config.lm_hidden).to(device)
    try:
        bridge.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise E2EError(f"{weights} doesn't match its {CONFIG_FILE}; save it again.") from exc
    model_lm, tokenizer = load_lm(config.lm, device)
    if model_lm.config.hidden_size != config.lm_hidden:
        raise E2EError(f"The LM {config.lm} is not {config.lm_hidden} wide as {folder} expects.")
    _check_fingerprint(folder, "lm", model_lm, config.lm)
    if config.lora_rank:
        from peft import PeftModel

        adapter = check_adapter_dir(folder / ADAPTER_DIR, _lm_entry(config.lm))
        model_lm = PeftModel.from_pretrained(model_lm, str(adapter), is_trainable=trainable)
        if not trainable:
            model_lm = model_lm.merge_and_unload()
    speech, extractor = load_encoder(config.encoder, device) if with_encoder else (None, None)
    if speech is not None:
        _check_fingerprint(folder, "encoder", speech, f"Whisper {config.encoder}")
    model = E2EModel(bridge, model_lm, tokenizer, config, speech, extractor)
    return model.train() if trainable else model.eval()


def new_e2e(
    bridge, encoder: str, lm: str, num_queries: int, stage: str, device: str,
    lora_rank: int | None = None, init: str | None = None, **fields: Any,
) -> E2EModel:  # fmt: skip
    """A new E2E model around ``bridge`` (pruned to its query path here), without an encoder."""
    model_lm, tokenizer = load_lm(lm, device)
    hidden = model_lm.config.hidden_size
    bridge = query_path(bridge, hidden).to(device)
    if lora_rank:
        model_lm = add_lora(model_lm, lora_rank, lm)
    config = E2EConfig(encoder, lm, hidden, num_queries, stage, lora_rank=lora_rank, init=init,
                       **fields)  # fmt: skip
    return E2EModel(bridge, model_lm, tokenizer, config)


def list_e2e(root: str | Path, stage: str | None = None) -> list[E2EEntry]:
    """Saved E2E models under ``root/<run>/e2e/``, newest first, optionally of one stage."""
    from demo.adapters import saved_under

    def read(folder: Path) -> tuple[float, E2EEntry]:
        if not (folder / WEIGHTS_FILE).is_file():
            raise E2EError(f"{folder} has no {WEIGHTS_FILE}.")
        return (folder / CONFIG_FILE).stat().st_mtime, e2e_entry(folder)

    found = saved_under(root, f"*/{E2E_DIR}/{CONFIG_FILE}", read)
    found = [(when, e) for when, e in found if stage is None or e.stage == stage]
    return [entry for _, entry in sorted(found, key=lambda pair: -pair[0])]


def latest_e2e(root: str | Path) -> Path:
    """The newest saved summarizing E2E model, or one sentence saying how to train one."""
    found = list_e2e(root, SUMMARY_TASK)
    if not found:
        raise E2EError(f"No trained end-to-end model in {root}; train one with {TRAIN_HINT}.")
    return Path(found[0].name)


def e2e_entry(folder: str | Path) -> E2EEntry:
    """What ``e2e.json`` says a saved E2E model is, without loading its weights."""
    folder = e2e_folder(folder)
    config, bridge = read_e2e_config(folder)
    if LM_HEAD not in bridge.heads:
        raise E2EError(f"{folder} has no projection to an LM; save it again.")
    run = folder.parent.name if folder.name == E2E_DIR else folder.name
    return E2EEntry(str(folder), "e2e", config.encoder, config.lm, config.stage,
                    config.num_queries, config.lora_rank, run)  # fmt: skip
