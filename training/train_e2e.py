"""Train the end-to-end speech -> summary model (Q-Former -> frozen SmolLM2) on cached features.

    # a sentence corpus and an abstract-clip corpus (long clips + their ACLSum summaries)
    python -m training.make_speech_corpus --out data/aclsum-asr --source aclsum
    python -m training.make_speech_corpus --out data/aclsum-talks --source aclsum \\
        --num-utterances 1 --val-clips 0 --test-clips 0 --abstract-clips --speeds 110,130,150
    # stage 2b-i: transcribe sentences (the LM learns to read the queries)
    python -m training.train_e2e --stage e2e-asr --train data/aclsum-asr/manifest.jsonl \\
        --num-queries 32 --epochs 3 --run-id e2e-asr-tiny.en-q32
    # stage 2b-ii: summarize whole abstracts, from stage 2b-i (optionally LoRA on the LM)
    python -m training.train_e2e --stage e2e-summary --train data/aclsum-talks/abstracts.jsonl \\
        --init-e2e checkpoints/e2e-asr-tiny.en-q32/e2e --epochs 10 --lora-rank 8
    # or start the Q-Former from a stage-1 pre-trained bridge (train_bridge --stage pretrain)
    python -m training.train_e2e --stage e2e-asr --train data/aclsum-asr/manifest.jsonl \\
        --init-bridge checkpoints/bridge-pretrain-tiny.en-q32/bridge

Each clip is cut into 30 s windows, and each window is encoded once by the frozen Whisper
encoder into a feature cache (``<manifest folder>/features/``, or ``--feature-cache``); the
Q-Former turns each window into Nq queries and the windows' prefixes are concatenated. The
run writes ``checkpoints/<run-id>/``: run.json (``system: qformer-e2e``), metrics.jsonl (per
evaluation: WER/CER and MiniLM similarity for e2e-asr; ROUGE-1/2/L/Lsum/S and embedding
similarity for e2e-summary) and ``e2e/`` (e2e.json, e2e.safetensors, adapter/ with LoRA).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from demo.bridge.e2e import SUMMARY_TASK, TASKS, TRANSCRIBE_TASK
from demo.errors import DemoError
from demo.options import option
from training.cli import run_cli
from training.loop import TaskData
from training.train_bridge import QFormerConfig

PROG = "python -m training.train_e2e"

SYSTEM = "qformer-e2e"
E2E_LR = 1e-4  # BLIP-2's Q-Former learning rate
BATCH_SIZES = {TRANSCRIBE_TASK: 8, SUMMARY_TASK: 4}  # a summary clip holds 2-3 windows
TEXT_COLUMNS = {TRANSCRIBE_TASK: "text", SUMMARY_TASK: "summary"}


@dataclass(frozen=True)
class E2ETrainConfig(QFormerConfig):
    methods: ClassVar[tuple[str, ...]] = (SYSTEM,)

    method: str = option(SYSTEM, "training method (only qformer-e2e: Q-Former + projection)")
    stage: str = option(TRANSCRIBE_TASK, "e2e-asr (clips -> transcript) or e2e-summary")
    lm: str = option("smollm2-135m", "the frozen decoder-only LM (summarizer registry name)")
    init_e2e: str | None = option(None, "continue from this saved E2E folder (the last stage's)")
    lora_rank: int | None = option(None, "LoRA rank on the LM's q/v projections (none: frozen)")
    text_column: str | None = option(None, "target column (default: text, or summary)")
    max_label_tokens: int = option(256, "targets longer than this many LM tokens are cut")
    max_new_tokens: int = option(160, "longest generated output during evaluation")
    eval_real_speech: bool = option(False, "unused: the E2E model is scored on its corpus")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.stage not in TASKS:
            raise ValueError(f"stage must be one of {', '.join(TASKS)}, not {self.stage!r}.")
        if self.init_bridge and self.init_e2e:
            raise ValueError("Give --init-bridge or --init-e2e, not both.")
        if self.lora_rank is not None and self.lora_rank < 1:
            raise ValueError("lora_rank must be at least 1 (or none).")
        if self.max_label_tokens < 2:
            raise ValueError("max_label_tokens must be at least 2.")

    @property
    def rank(self) -> int | None:
        return self.lora_rank

    @property
    def target_column(self) -> str:
        return self.text_column or TEXT_COLUMNS[self.stage]


@dataclass
class E2EEntryInfo:
    """What the loop calls the base model's registry entry, for the E2E model."""

    name: str  # encoder+LM
    size: str  # the Whisper size family, for charts
    whisper: Any  # demo.asr.registry.WhisperModel
    extra: dict[str, Any] = field(default_factory=dict)  # run.json extra


@dataclass
class E2EProcessor:
    whisper: Any  # the whole frozen Whisper (its encoder fills the cache)
    whisper_processor: Any
    tokenizer: Any  # the LM's


class ClipWindows:
    """Map-style dataset: per clip, the cached features of its windows and its target text."""

    def __init__(self, cache, clips: list[list[str]]) -> None:
        self.cache, self.clips = cache, clips

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> dict[str, Any]:
        keys = self.clips[index]
        return {"features": [self.cache.features(k) for k in keys],
                "text": self.cache.text(keys[0])}  # fmt: skip


@dataclass
class E2ECollator:
    """Flatten every clip's windows into one padded batch; LM answer ids padded with -100."""

    tokenizer: Any
    max_label_tokens: int

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        from demo.bridge.features import pad_features
        from training.datasets import pad_labels

        features, mask = pad_features([f for item in items for f in item["features"]])
        texts = [item["text"] for item in items]
        end = self.tokenizer.eos_token_id  # <|im_end|>: the assistant turn is over
        targets = []
        for text in texts:
            ids = self.tokenizer(" ".join(text.split()), add_special_tokens=False).input_ids
            targets.append(ids[: self.max_label_tokens - 1] + [end])
        return {
            "features": features,
            "feature_mask": mask,
            "windows": torch.tensor([len(item["features"]) for item in items]),
            "targets": pad_labels(targets),
            "references": texts,
        }


class E2ETask:
    """The E2E model as a task of the one training loop (``training.loop``)."""

    name = "asr"  # set per stage in build: asr (WER) or summarization (ROUGE)
    config_cls = E2ETrainConfig

    def build(self, config: E2ETrainConfig, device: str):
        """Frozen Whisper (for the cache) + a new or loaded E2E model, as a TrainableModel."""
        from demo.asr.registry import get_whisper_model
        from demo.bridge.e2e import frozen
        from demo.loaders import load_whisper_base
        from demo.provenance import weights_fingerprint
        from training.modeling import TrainableModel

        self.name = "asr" if config.stage == TRANSCRIBE_TASK else "summarization"
        entry = get_whisper_model(config.model)
        whisper, whisper_processor = load_whisper_base(entry, config.quant, device)
        frozen(whisper)
        model = _model(config, whisper.config.d_model, device)
        self.prior_steps = model.config.trained_steps
        self.save_fp16 = config.save_fp16
        self.encoder_fingerprint = weights_fingerprint(whisper.model.encoder)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        encoder = sum(p.numel() for p in whisper.model.encoder.parameters())
        total = sum(p.numel() for p in model.parameters()) + encoder
        extra = {
            "stage": config.stage,
            "stages": list(model.config.stages),
            "num_queries": config.num_queries,
            "encoder": config.model,
            "lm": config.lm,
            "lora_rank": model.config.lora_rank,
            "init": model.config.init,
            "prior_steps": self.prior_steps,
        }
        info = E2EEntryInfo(f"{config.model}+{config.lm}", entry.size, entry, extra)
        processor = E2EProcessor(whisper, whisper_processor, model.tokenizer)
        return TrainableModel(model, processor, info, False, trainable, total)

    def default_hparams(self, config: E2ETrainConfig, entry) -> tuple[float, int]:
        return E2E_LR, BATCH_SIZES[config.stage]

    def data(self, config: E2ETrainConfig, processor: E2EProcessor, entry) -> TaskData:
        from accelerate import PartialState

        from demo.bridge.features import CacheOptions, FeatureCache
        from training.data import TEST, TRAIN, VALIDATION, load_splits
        from training.e2e_data import window_items
        from training.train_bridge import feature_cache_folder

        splits = load_splits(config)
        named = [(TRAIN, splits.train), (VALIDATION, splits.validation)]
        if splits.test:
            named.append((TEST, splits.test))
            splits.reports[TEST] = splits.test_report
        items, clips = [], {}
        for split, rows in named:
            made, clips[split] = window_items(rows, splits.reports[split], split, config, splits)
            if not made and split != TEST:
                raise DemoError(f"No usable {split} rows: {splits.reports[split].summary()}.")
            items += made
        asr = config.stage == TRANSCRIBE_TASK
        options = CacheOptions(
            margin_frames=config.margin_frames,
            batch_size=config.encode_batch_size,
            dtype=config.cache_dtype,
            reference_splits=(VALIDATION,) if asr else (),  # plain Whisper: the upper bound
            language=config.language,
        )
        folder = feature_cache_folder(config, items, options)
        with PartialState().main_process_first():  # one process encodes
            whisper = (processor.whisper, processor.whisper_processor)
            cache = FeatureCache.build(folder, items, *whisper, config.model, options)
        entry.extra.update(feature_cache=str(folder), margin_frames=config.margin_frames)
        windows = [len(c) for split in clips for c in clips[split]]
        entry.extra["mean_windows"] = sum(windows) / len(windows)
        if asr:
            from demo.metrics import asr_scores

            keys = [c[0] for c in clips[VALIDATION]]
            refs = [cache.text(k) for k in keys]
            upper = asr_scores(refs, [cache.reference_text(k) or "" for k in keys])
            entry.extra.update(whisper_wer=upper["wer"], whisper_cer=upper["cer"])
        collate = E2ECollator(processor.tokenizer, config.max_label_tokens)
        evals = {TEST: ClipWindows(cache, clips[TEST])} if clips.get(TEST) else {}
        return TaskData(
            ClipWindows(cache, clips[TRAIN]), ClipWindows(cache, clips[VALIDATION]), collate,
            splits.reports, splits.name, evals,
        )  # fmt: skip

    def prepare_batch(self, model, batch: dict) -> dict:
        batch["labels"] = model.full_labels(batch["windows"], batch["targets"])
        return batch

    def generate(self, model, processor, entry, config, batch) -> list[str]:
        return model.generate(batch["features"], batch["feature_mask"], batch["windows"],
                              max_new_tokens=config.max_new_tokens)  # fmt: skip

    def score(self, config, references: list[str], predictions: list[str]) -> dict:
        from demo.metrics import asr_scores, embedding_similarity, summary_scores

        language = config.language or "en"
        if config.stage == SUMMARY_TASK:
            return summary_scores(references, predictions, language=language)
        scores = asr_scores(references, predictions, language=language)
        scores["minilm_similarity"] = embedding_similarity(references, predictions)
        return scores

    def run_fields(self, entry: E2EEntryInfo) -> dict[str, Any]:
        return {"size": entry.size, "family": None, "system": SYSTEM, "extra": dict(entry.extra)}

    def save_outputs(self, model, run_dir: Path, final: bool) -> None:
        """The E2E folder (Whisper and the LM are frozen and not saved): ``<run>/e2e/``."""
        from demo.bridge.e2e_io import E2E_DIR, save_e2e

        steps = getattr(self, "prior_steps", 0) + _last_step(Path(run_dir))
        save_e2e(model, Path(run_dir) / E2E_DIR, trained_steps=steps,
                 fp16=getattr(self, "save_fp16", False),
                 encoder_fingerprint=getattr(self, "encoder_fingerprint", None))  # fmt: skip


def _model(config: E2ETrainConfig, encoder_width: int, device: str):
    """A new E2E model (Q-Former from MiniLM or a bridge) or the one ``--init-e2e`` names."""
    from demo.bridge.e2e_io import add_lora, load_e2e, new_e2e
    from demo.bridge.model import SpeechBridge, load_bridge

    if config.init_e2e:
        model = load_e2e(config.init_e2e, encoder=config.model, lm=config.lm, device=device,
                         trainable=True, with_encoder=False)  # fmt: skip
        _check_queries(model.config.num_queries, config, config.init_e2e)
        had = model.config.lora_rank
        if config.lora_rank and had and had != config.lora_rank:
            raise DemoError(
                f"The E2E model in {config.init_e2e} has a rank-{had} LoRA adapter; pass "
                f"--lora-rank {had} or leave it out."
            )
        if config.lora_rank and not had:
            model.lm = add_lora(model.lm, config.lora_rank, config.lm)
        model.config = replace(
            model.config, stage=config.stage, stages=(*model.config.stages, config.stage),
            lora_rank=config.lora_rank or had, init=config.init_e2e,
        )  # fmt: skip
        return model
    if config.init_bridge:
        bridge = load_bridge(config.init_bridge, encoder=config.model, device=device)
        _check_queries(bridge.num_queries, config, config.init_bridge)
        bridge.train()
    else:
        bridge = SpeechBridge.from_minilm(
            config.model, encoder_width, config.num_queries, **config.bridge_options()
        )
    return new_e2e(
        bridge, config.model, config.lm, config.num_queries, config.stage, device,
        config.lora_rank, init=config.init_bridge or "all-MiniLM-L6-v2",
        margin_frames=config.margin_frames, stages=(config.stage,),
    )  # fmt: skip


def _check_queries(found: int, config: E2ETrainConfig, source: str) -> None:
    if found != config.num_queries:
        raise DemoError(
            f"The model in {source} has {found} queries, not --num-queries "
            f"{config.num_queries}; pass --num-queries {found}."
        )


def _last_step(run_dir: Path) -> int:
    """The optimizer step of the run's last metrics line (its evaluations come at the end)."""
    try:
        lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
        return int(json.loads(lines[-1])["step"]) if lines else 0
    except (OSError, ValueError, KeyError):
        return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(E2ETrainConfig, E2ETask(), argv, prog=PROG, doc=__doc__)


if __name__ == "__main__":
    sys.exit(main())
