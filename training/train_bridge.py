"""Train the Q-Former speech bridge on cached frozen-Whisper features (the SparQLe system).

    python -m training.make_speech_corpus --out data/espeak --num-utterances 300
    # stage 1: BLIP-2 pre-training (STCL + STM + STG) of a 32-query bridge on tiny.en features
    python -m training.train_bridge --train data/espeak/manifest.jsonl --stage pretrain \\
        --num-queries 32 --epochs 5 --run-id bridge-pretrain-tiny.en-q32
    # stage 2a: ASR through the bottleneck (frozen Whisper decoder reads the 32 queries)
    python -m training.train_bridge --train data/espeak/manifest.jsonl --stage asr \\
        --init-bridge checkpoints/bridge-pretrain-tiny.en-q32/bridge --epochs 5
    python -m training.train_bridge --model base --train data/sci/manifest.jsonl --stage asr \\
        --num-queries 8

The first run on a manifest encodes every clip once with the frozen encoder into a feature
cache (``<manifest folder>/features/<model>-m<margin>-<hash>/``, or ``--feature-cache``), and
transcribes the validation clips with the unmodified Whisper: its WER/CER, the upper bound,
goes into run.json's ``extra``. Each run writes ``checkpoints/<run-id>/``: run.json
(``system: qformer``), metrics.jsonl (per evaluation: WER/CER of the generated transcripts,
MiniLM similarity to the reference, and in pre-training each loss, in-batch speech->text R@1
and STM accuracy) and ``bridge/`` (bridge.safetensors + bridge.json).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from demo.errors import DemoError
from demo.options import option
from training.cli import run_cli
from training.config import AsrConfig
from training.loop import TaskData

PROG = "python -m training.train_bridge"

STAGES = ("pretrain", "asr")
BRIDGE_DIR = "bridge"
FEATURES_DIR = "features"  # next to the manifest: <folder>/features/<model>-m<margin>-<hash>/
BRIDGE_LR = 1e-4  # BLIP-2 pre-training peak learning rate
BRIDGE_BATCH_SIZE = 16
SYSTEM = "qformer"


def feature_cache_folder(config, items, options, dataset: str | None = None) -> Path:
    """Where a run caches its frozen encoder's features (the bridge's and the E2E model's):
    ``--feature-cache``, else ``features/`` beside the training manifest, else under the
    output folder (per ``dataset`` name when given); ``demo.bridge.features.cache_folder``
    names the cache inside by model, options and clips."""
    from demo.bridge.features import cache_folder

    if config.feature_cache:
        return Path(config.feature_cache)
    if config.train is not None:
        root = Path(config.train).parent / FEATURES_DIR
    else:
        root = Path(config.output_dir) / FEATURES_DIR
        root = root / dataset if dataset else root
    return cache_folder(root, config.model, options, items)


@dataclass(frozen=True)
class QFormerConfig(AsrConfig):
    """What a Q-Former on cached frozen-Whisper features takes: the bridge's and the E2E
    model's shared options and their checks."""

    takes_teacher: ClassVar[bool] = False  # --distill-from is train_asr's
    num_queries: int = option(32, "Nq, the learned queries (per 30 s window)")
    init_bridge: str | None = option(None, "start the Q-Former from this saved bridge folder")
    feature_cache: str | None = option(None, "encoder feature cache folder (default: by the data)")
    margin_frames: int = option(10, "encoder frames kept after each clip's end (20 ms each)")
    encode_batch_size: int = option(8, "clips per frozen-encoder call when building the cache")
    cache_dtype: str = option("float16", "feature cache precision: float16, bfloat16 or float32")
    cross_attention_freq: int = option(2, "queries cross-attend to speech every N layers")
    dropout: float = option(0.1, "Q-Former dropout (MiniLM's 0.1)")
    segments: bool = option(
        False, "query i reads only the i-th of Nq equal segments of the speech (local)"
    )
    segment_overlap: int = option(2, "with --segments: frames each segment also sees each side")
    shortcut: bool = option(
        False, "the Whisper head adds each segment's mean frame (its output starts at zero)"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.quant not in ("fp32", "full"):
            raise ValueError(
                "The Q-Former trains in fp32; --quant is the frozen models': fp32 or full."
            )
        if self.num_queries < 1 or self.encode_batch_size < 1:
            raise ValueError("num_queries and encode_batch_size must be at least 1.")
        if self.margin_frames < 0 or self.segment_overlap < 0:
            raise ValueError("margin_frames and segment_overlap must be at least 0.")

    def bridge_options(self) -> dict[str, Any]:
        """A new bridge's shape from these options (``SpeechBridge.from_minilm``)."""
        return {
            "cross_attention_freq": self.cross_attention_freq,
            "dropout": self.dropout,
            "segments": self.segments,
            "segment_overlap": self.segment_overlap,
            "shortcut": self.shortcut,
        }


@dataclass(frozen=True)
class BridgeTrainConfig(QFormerConfig):
    methods: ClassVar[tuple[str, ...]] = (SYSTEM,)

    method: str = option(SYSTEM, "training method (the bridge trains whole; only qformer)")
    stage: str = option(
        "pretrain", "pretrain (STCL + STM + STG) or asr (frozen Whisper decoder CE)"
    )
    max_text_tokens: int = option(128, "Q-Former text is cut to this many tokens")
    embed_dim: int = option(256, "STCL projection width")
    objectives: tuple[str, ...] = option(
        ("stcl", "stm", "stg"), "pre-training losses summed (any subset, for ablations)"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {', '.join(STAGES)}, not {self.stage!r}.")
        for name in ("max_text_tokens", "embed_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1.")
        if not self.objectives or set(self.objectives) - {"stcl", "stm", "stg"}:
            raise ValueError("objectives must be one or more of stcl, stm, stg.")

    @property
    def rank(self) -> int | None:
        return None  # no adapter rank: the bridge trains whole


@dataclass
class BridgeEntry:
    """What the loop calls the base model's registry entry, for the bridge."""

    name: str  # the Whisper model whose encoder (and decoder) the bridge sits on
    size: str  # its size family, for charts
    whisper: Any  # demo.asr.registry.WhisperModel
    extra: dict[str, Any] = field(default_factory=dict)  # run.json extra (upper bound...)


@dataclass
class BridgeProcessor:
    """Everything that turns clips and texts into batches and outputs back into text."""

    text_tokenizer: Any  # MiniLM's BERT tokenizer (Q-Former side)
    whisper_processor: Any  # WhisperProcessor (features, Whisper labels, decoding)
    whisper: Any  # the frozen Whisper (its encoder fills the feature cache)


class CachedSpeechDataset:
    """Map-style dataset over feature-cache keys: (features, text) per item."""

    def __init__(self, cache, keys: list[str]) -> None:
        self.cache, self.keys = cache, keys

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index: int) -> dict[str, Any]:
        key = self.keys[index]
        return {"features": self.cache.features(key), "text": self.cache.text(key)}


@dataclass
class BridgeCollator:
    """Pad features (with their mask); tokenize text for the Q-Former or labels for Whisper."""

    processor: BridgeProcessor
    stage: str
    max_text_tokens: int
    max_label_tokens: int
    objectives: tuple[str, ...]

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        from demo.bridge.features import pad_features
        from demo.bridge.model import stg_labels
        from training.datasets import pad_labels

        features, mask = pad_features([item["features"] for item in items])
        texts = [item["text"] for item in items]
        batch: dict[str, Any] = {"features": features, "feature_mask": mask, "references": texts}
        if self.stage == "pretrain":
            tokens = self.processor.text_tokenizer(
                texts,
                padding=True,
                truncation=True,
                max_length=self.max_text_tokens,
                return_tensors="pt",
            )
            batch["input_ids"] = tokens.input_ids
            batch["attention_mask"] = tokens.attention_mask
            batch["labels"] = stg_labels(tokens.input_ids, tokens.attention_mask)
            batch["objectives"] = self.objectives
            return batch
        tokenizer = self.processor.whisper_processor.tokenizer
        labels = []
        for text in texts:
            ids = tokenizer(text).input_ids[1:]  # the model adds the start token itself
            if len(ids) > self.max_label_tokens:
                ids = ids[: self.max_label_tokens - 1] + ids[-1:]  # keep end-of-text
            labels.append(ids)
        batch["labels"] = pad_labels(labels)
        return batch


class BridgeTask:
    """The bridge as a task of the one training loop (``training.loop``)."""

    name = "asr"  # what it is scored on: transcripts (WER/CER)
    config_cls = BridgeTrainConfig

    def build(self, config: BridgeTrainConfig, device: str):
        """Frozen Whisper + a new (MiniLM-initialised) or loaded bridge, as a TrainableModel."""
        from demo.asr.registry import get_whisper_model
        from demo.bridge.asr import BridgeForWhisper
        from demo.bridge.model import SpeechBridge, load_bridge
        from demo.bridge.qformer import text_tokenizer
        from demo.loaders import load_whisper_base
        from training.modeling import TrainableModel

        entry = get_whisper_model(config.model)
        # "fp32" everywhere, "full" = fp16 on a GPU: Whisper is frozen, only its dtype changes.
        whisper, whisper_processor = load_whisper_base(entry, config.quant, device)
        whisper.eval()
        for parameter in whisper.parameters():
            parameter.requires_grad_(False)
        if config.init_bridge:
            bridge = load_bridge(config.init_bridge, encoder=config.model, device=device)
            if bridge.num_queries != config.num_queries:
                raise DemoError(
                    f"The bridge in {config.init_bridge} has {bridge.num_queries} queries, not "
                    f"--num-queries {config.num_queries}; pass --num-queries "
                    f"{bridge.num_queries}."
                )
        else:
            bridge = SpeechBridge.from_minilm(
                config.model,
                whisper.config.d_model,
                config.num_queries,
                embed_dim=config.embed_dim,
                **config.bridge_options(),
            ).to(device)
        model = BridgeForWhisper(bridge, whisper) if config.stage == "asr" else bridge
        processor = BridgeProcessor(text_tokenizer(), whisper_processor, whisper)
        trainable = sum(p.numel() for p in bridge.parameters())
        total = trainable + sum(p.numel() for p in whisper.parameters())
        extra = {
            "stage": config.stage,
            "num_queries": bridge.num_queries,
            "encoder": config.model,
            "encoder_width": bridge.config.qformer.encoder_width,
            "text_model": bridge.config.text_model,
            "init_bridge": config.init_bridge,
            "segments": bridge.config.qformer.segments,
            "shortcut": bridge.config.shortcut,
            "objectives": list(config.objectives) if config.stage == "pretrain" else None,
        }
        bridge_entry = BridgeEntry(config.model, entry.size, entry, extra)
        return TrainableModel(model, processor, bridge_entry, False, trainable, total)

    def default_hparams(self, config: BridgeTrainConfig, entry) -> tuple[float, int]:
        return BRIDGE_LR, BRIDGE_BATCH_SIZE

    def data(self, config: BridgeTrainConfig, processor: BridgeProcessor, entry) -> TaskData:
        from accelerate import PartialState

        from demo.bridge.features import CacheItem, CacheOptions, FeatureCache
        from demo.metrics import asr_scores
        from training.data import TRAIN, VALIDATION, load_splits, speech_columns, speech_examples

        if entry.whisper.multilingual:
            processor.whisper_processor.tokenizer.set_prefix_tokens(
                language=config.language or "en", task="transcribe"
            )
        splits = load_splits(config)
        kwargs = speech_columns(config, splits)
        items = []
        for split, rows in ((TRAIN, splits.train), (VALIDATION, splits.validation)):
            examples = speech_examples(rows, splits.reports[split], **kwargs)
            if not examples:
                raise DemoError(f"No usable {split} rows: {splits.reports[split].summary()}.")
            items += [
                CacheItem(f"{split}-{i:06d}", e.audio, e.text, split)
                for i, e in enumerate(examples)
            ]
        options = CacheOptions(
            margin_frames=config.margin_frames,
            batch_size=config.encode_batch_size,
            dtype=config.cache_dtype,
            reference_splits=(VALIDATION,),
            language=config.language,
        )
        folder = feature_cache_folder(config, items, options, splits.name)
        # One process encodes; the others then find the finished cache.
        with PartialState().main_process_first():
            cache = FeatureCache.build(
                folder, items, processor.whisper, processor.whisper_processor, config.model, options
            )
        val_keys = cache.keys(VALIDATION)
        refs = [cache.text(k) for k in val_keys]
        upper = asr_scores(refs, [cache.reference_text(k) or "" for k in val_keys])
        entry.extra.update(
            feature_cache=str(folder),
            margin_frames=config.margin_frames,
            whisper_wer=upper["wer"],
            whisper_cer=upper["cer"],
            mean_frames=sum(cache.rows[k]["frames"] for k in cache.keys()) / len(cache.rows),
        )
        collate = BridgeCollator(
            processor,
            config.stage,
            config.max_text_tokens,
            config.max_label_tokens,
            tuple(config.objectives),
        )
        return TaskData(
            CachedSpeechDataset(cache, cache.keys(TRAIN)),
            CachedSpeechDataset(cache, val_keys),
            collate,
            splits.reports,
            splits.name,
        )

    def prepare_batch(self, model, batch: dict) -> dict:
        return batch

    def generate(self, model, processor: BridgeProcessor, entry, config, batch) -> list[str]:
        from demo.bridge.asr import transcribe_bridge

        if config.stage == "pretrain":
            return model.generate_text(
                batch["features"],
                batch["feature_mask"],
                processor.text_tokenizer,
                config.max_new_tokens,
            )
        return transcribe_bridge(
            model.bridge,
            model.whisper,
            processor.whisper_processor,
            batch["features"],
            batch["feature_mask"],
            language=config.language,
            max_new_tokens=config.max_new_tokens,
            num_beams=config.num_beams,
        )

    def score(self, config, references: list[str], predictions: list[str]) -> dict:
        from demo.metrics import asr_scores, embedding_similarity

        scores = asr_scores(references, predictions, language=config.language or "en")
        # MiniLM cosine similarity, not the thesis's BERTScore (another model, token-level F1).
        scores["minilm_similarity"] = embedding_similarity(references, predictions)
        return scores

    def run_fields(self, entry: BridgeEntry) -> dict[str, Any]:
        return {"size": entry.size, "family": None, "system": SYSTEM, "extra": dict(entry.extra)}

    def save_outputs(self, model, run_dir: Path, final: bool) -> None:
        """The bridge alone (Whisper is frozen and not saved): ``<run>/bridge/``."""
        bridge = model.bridge if hasattr(model, "bridge") else model
        bridge.save(Path(run_dir) / BRIDGE_DIR)


def main(argv: list[str] | None = None) -> int:
    return run_cli(BridgeTrainConfig, BridgeTask(), argv, prog=PROG, doc=__doc__)


if __name__ == "__main__":
    sys.exit(main())
