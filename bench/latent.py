"""Latent-space compression (demo.compress.latent) on real architectures, with RANDOM weights.

    python -m bench.latent --quick      # t5-small + bart-base at latent 256: about a minute
    python -m bench.latent              # 5 architectures x latents 384, 256, 128: ~10-15 min
    python -m bench.latent --models bart-base --latents 384 --repeats 5

No BART/T5/mBART weights exist offline, so each architecture (``ARCHITECTURES``: the
hyperparameters of its hub config) is built with random weights. Parameter counts, time and
memory don't depend on the values; quality does, so nothing here says anything about quality
(that needs trained weights: ``training.train_latent`` and ``bench.latent_whisper``).

Per architecture and latent: decoder parameters (embeddings, layers, LM head); CPU generation
latency for a fixed number of new tokens with the paper's decoding (4 beams, no repeated
3-gram), batch 1 -- the plain model and every latent variant run in the same interleaved
rounds and each is the minimum over them; and the peak memory of one fine-tuning step
(AdamW, forward + backward + update; RSS above the process's baseline, sampled by
``demo.measure``), each variant in its own forked process so its peak is its own. The plain
model is measured twice: all weights training (the usual fine-tune, the paper's baseline) and
with its encoder frozen (what the latent variant freezes too), so the share of the saving
that comes from the narrow decoder alone can be read off. Every number is also a ratio to the
plain model. Results: ``checkpoints/bench/latent.json`` / ``.csv`` (``--quick``: ``quick/``).
"""

from __future__ import annotations

import ctypes
import gc
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.env import DEFAULT_OUT, bench_main, meta, parse_options, write_results
from bench.markdown import fmt, text_table
from demo.measure import run_in_fork
from demo.options import option

MODULE = "bench.latent"
# Hyperparameters copied from each model's hub config.json (no download here); values not
# given are the transformers config defaults, which match those files.
ARCHITECTURES: dict[str, dict[str, Any]] = {
    # facebook/bart-base config.json
    "bart-base": {
        "model_type": "bart", "d_model": 768, "encoder_layers": 6, "decoder_layers": 6,
        "encoder_attention_heads": 12, "decoder_attention_heads": 12, "encoder_ffn_dim": 3072,
        "decoder_ffn_dim": 3072, "vocab_size": 50265, "max_position_embeddings": 1024,
        "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2, "decoder_start_token_id": 2,
    },
    # facebook/bart-large-cnn config.json
    "bart-large-cnn": {
        "model_type": "bart", "d_model": 1024, "encoder_layers": 12, "decoder_layers": 12,
        "encoder_attention_heads": 16, "decoder_attention_heads": 16, "encoder_ffn_dim": 4096,
        "decoder_ffn_dim": 4096, "vocab_size": 50264, "max_position_embeddings": 1024,
        "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2, "decoder_start_token_id": 2,
    },
    # facebook/mbart-large-50 config.json
    "mbart-large-50": {
        "model_type": "mbart", "d_model": 1024, "encoder_layers": 12, "decoder_layers": 12,
        "encoder_attention_heads": 16, "decoder_attention_heads": 16, "encoder_ffn_dim": 4096,
        "decoder_ffn_dim": 4096, "vocab_size": 250054, "max_position_embeddings": 1024,
        "scale_embedding": True, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2,
        "decoder_start_token_id": 2,
    },
    # google-t5/t5-small config.json
    "t5-small": {
        "model_type": "t5", "d_model": 512, "d_kv": 64, "d_ff": 2048, "num_layers": 6,
        "num_decoder_layers": 6, "num_heads": 8, "vocab_size": 32128, "pad_token_id": 0,
        "eos_token_id": 1, "decoder_start_token_id": 0,
    },
    # google-t5/t5-base config.json
    "t5-base": {
        "model_type": "t5", "d_model": 768, "d_kv": 64, "d_ff": 3072, "num_layers": 12,
        "num_decoder_layers": 12, "num_heads": 12, "vocab_size": 32128, "pad_token_id": 0,
        "eos_token_id": 1, "decoder_start_token_id": 0,
    },
}  # fmt: skip
PLAIN, FROZEN = "plain", "plain-frozen-encoder"
WARM_UP_TOKENS = 4  # the untimed first generation of each variant
# The paper's abstract (BART-base on CNN/DailyMail, on a GPU) and its journal version.
REPORTED = {
    "source": "Alam Falaki & Gras, ICMLA 2022 (github.com/AlaFalaki/compressedBART)",
    "model": "bart-base",
    "inference_time_change_pct": -54.0,
    "finetune_gpu_memory_change_pct": -57.0,
    "rouge1_change_pct": -4.5,
    "decoder_params_m": {"plain": 96.0, "latent": 40.0},  # journal version
    "released_latents": [504, 384],  # their README's checkpoints
    # 96M -> 40M is BART-base's decoder at 384 (measured here: 96.1M -> 41.0M); the abstract
    # doesn't say which latent its time and memory figures used: shown beside 384 too.
    "latent": 384,
}
QUICK = {
    "models": ("t5-small", "bart-base"),
    "latents": (256,),
    "new_tokens": 16,
    "repeats": 1,
    "out": str(DEFAULT_OUT / "quick"),
}


@dataclass(frozen=True)
class LatentBenchOptions:
    models: tuple[str, ...] = option(tuple(ARCHITECTURES), "architectures (ARCHITECTURES)")
    latents: tuple[int, ...] = option((384, 256, 128), "latent widths")
    source_tokens: int = option(256, "input length, for generation and fine-tuning")
    new_tokens: int = option(64, "tokens generated (exactly: EOS is held off until then)")
    repeats: int = option(2, "timed generation rounds; the minimum is reported")
    train_batch: int = option(2, "fine-tuning batch")
    target_tokens: int = option(64, "fine-tuning target length")
    # One thread by default: on a shared machine two threads wait on each other at every
    # small op of beam search (measured here: 5-10x slower than one thread under load).
    threads: int = option(1, "torch intra-op threads (0: torch's default, all cores)")
    memory: bool = option(True, "measure a fine-tuning step's memory (one fork per variant)")
    seed: int = option(0, "random weights and inputs")
    out: str = option(str(DEFAULT_OUT), "folder for the result files")
    name: str = option("latent", "result file name (without suffix)")

    def __post_init__(self) -> None:
        unknown = [m for m in self.models if m not in ARCHITECTURES]
        if unknown:
            raise ValueError(f"Unknown models {unknown}; pick from {', '.join(ARCHITECTURES)}.")
        for name in ("source_tokens", "new_tokens", "repeats", "train_batch", "target_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1.")


@dataclass
class Row:
    config: str  # "bart-base latent 256": what the dashboard labels it
    kind: str  # always "latent"
    model: str
    variant: str  # plain, plain-frozen-encoder or latent
    latent: int | None
    d_model: int
    weights: str  # always "random": no quality claim
    widths: list[int] | None = None  # autoencoder widths
    decoder_heads: int | None = None
    notes: list[str] | None = None  # e.g. heads adjusted
    total_params: int | None = None
    decoder_params: int | None = None
    autoencoder_params: int | None = None
    decoder_params_ratio: float | None = None  # to the plain decoder
    generate_s: float | None = None  # minimum over the rounds
    generate_runs_s: list[float] | None = None
    generate_ratio: float | None = None  # to the plain model in the same rounds
    new_tokens: int | None = None  # tokens actually generated
    train_peak_mb: float | None = None  # peak RSS above baseline during one step
    train_ratio: float | None = None  # to the plain model training every weight
    train_step_s: float | None = None
    train_step_ratio: float | None = None
    trainable_params: int | None = None
    weights_mb: float | None = None


def _trim() -> None:
    """Give freed heap memory back to the OS so a fork's RSS reflects what it holds."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


def build_plain(name: str, seed: int):
    """The architecture with random weights (eval mode)."""
    import torch
    from transformers import CONFIG_MAPPING

    from demo.compress.latent import model_class

    values = dict(ARCHITECTURES[name])
    config = CONFIG_MAPPING[values.pop("model_type")](**values)
    torch.manual_seed(seed)
    return model_class(config)(config).eval()


def _inputs(config, batch: int, length: int, seed: int):
    import torch

    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, config.vocab_size, (batch, length), generator=generator)
    return ids, torch.ones_like(ids)


def _generation_config(config, new_tokens: int):
    from transformers import GenerationConfig

    from demo.compress.latent import PAPER_DECODING

    return GenerationConfig(
        **PAPER_DECODING,
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        decoder_start_token_id=config.decoder_start_token_id,
        eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id,
    )


def latency(name: str, options: LatentBenchOptions) -> list[dict[str, Any]]:
    """Plain and every latent variant (sharing the encoder), timed in interleaved rounds."""
    import torch

    from demo.compress.latent import compress, decoder_parameters, unique_parameters

    if options.threads:
        torch.set_num_threads(options.threads)
    plain = build_plain(name, options.seed)
    variants: dict[Any, Any] = {None: plain}
    for latent in options.latents:
        torch.manual_seed(options.seed + latent)
        variants[latent] = compress(plain, latent).eval()
    ids, mask = _inputs(plain.config, 1, options.source_tokens, options.seed)
    generation = _generation_config(plain.config, options.new_tokens)
    runs: dict[Any, list[float]] = {key: [] for key in variants}
    produced: dict[Any, int] = {}
    warm_up = _generation_config(plain.config, WARM_UP_TOKENS)
    with torch.no_grad():
        for model in variants.values():  # untimed: first-call allocations and caches
            model.generate(input_ids=ids, attention_mask=mask, generation_config=warm_up)
        for _ in range(options.repeats):
            for key, model in variants.items():
                start = time.perf_counter()
                out = model.generate(
                    input_ids=ids, attention_mask=mask, generation_config=generation
                )
                runs[key].append(time.perf_counter() - start)
                produced[key] = out.shape[1] - 1  # minus the start token
    results = []
    for key, model in variants.items():
        result = {
            "latent": key,
            "generate_runs_s": [round(t, 4) for t in runs[key]],
            "new_tokens": produced[key],
            "total_params": unique_parameters(model),
            "decoder_params": decoder_parameters(model),
        }
        if key is not None:
            result.update(
                widths=list(model.autoencoder.widths),
                decoder_heads=model.heads,
                notes=model.notes,
                autoencoder_params=unique_parameters(model.autoencoder),
            )
        results.append(result)
    return results


def _freeze_encoder_only(model) -> None:
    """Freeze the encoder's own weights; ones it shares with the decoder (BART's embedding)
    keep training, as they would in the latent model's decoder."""
    from demo.compress.latent import family_of

    prefix = family_of(model.config).encoder_path + "."
    named = list(model.named_parameters(remove_duplicate=False))
    for name, parameter in named:
        if name.startswith(prefix):
            parameter.requires_grad_(False)
    for name, parameter in named:
        if not name.startswith(prefix):
            parameter.requires_grad_(True)


def train_step(name: str, latent: int | None, frozen: bool, options: LatentBenchOptions):
    """Peak memory and time of one AdamW fine-tuning step (run in a fresh fork)."""
    import torch

    from demo.compress.latent import compress, family_of, get_path
    from demo.measure import measure, process_rss_mb, weights_footprint_mb

    if options.threads:
        torch.set_num_threads(options.threads)
    before = process_rss_mb()
    model = build_plain(name, options.seed)
    if latent is not None:
        torch.manual_seed(options.seed + latent)
        model = compress(model, latent)  # the plain decoder is dropped with the old name
    elif frozen:
        _freeze_encoder_only(model)
    _trim()
    config = model.config
    ids, mask = _inputs(config, options.train_batch, options.source_tokens, options.seed)
    labels, _ = _inputs(config, options.train_batch, options.target_tokens, options.seed + 1)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    model.train()
    with measure("step") as stats:
        if frozen:  # the frozen encoder runs without building a graph, as the latent one does
            encoder = get_path(model, family_of(config).encoder_path)
            with torch.no_grad():
                encoded = encoder(input_ids=ids, attention_mask=mask)
            loss = model(encoder_outputs=encoded, attention_mask=mask, labels=labels).loss
        else:
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        optimizer.step()
    return {
        "train_peak_mb": round(stats.peak_rss_mb - before, 1),
        "train_step_s": round(stats.seconds, 3),
        "trainable_params": sum(p.numel() for p in params),
        "weights_mb": round(weights_footprint_mb(model), 1),
    }


def measure_architecture(name: str, options: LatentBenchOptions) -> list[Row]:
    """Every variant of one architecture: memory forks first, then one latency fork."""
    memory: dict[tuple, dict] = {}
    if options.memory:
        for latent, frozen in [(None, False), (None, True)] + [(z, False) for z in options.latents]:
            memory[(latent, frozen)] = run_in_fork(train_step, name, latent, frozen, options)
    timings = {r["latent"]: r for r in run_in_fork(latency, name, options)}
    d_model = ARCHITECTURES[name]["d_model"]
    plain_time = min(timings[None]["generate_runs_s"])
    plain_memory = memory.get((None, False), {})
    rows = []
    keys = [(None, False)] + ([(None, True)] if options.memory else [])
    for latent, frozen in keys + [(z, False) for z in options.latents]:
        timing = timings[latent]
        variant = FROZEN if frozen else (PLAIN if latent is None else "latent")
        label = {PLAIN: "plain", FROZEN: "plain, encoder frozen"}.get(variant, f"latent {latent}")
        row = Row(f"{name} {label}", "latent", name, variant, latent, d_model, "random")
        for key in ("widths", "decoder_heads", "notes", "total_params", "decoder_params"):
            setattr(row, key, timing.get(key))
        row.autoencoder_params = timing.get("autoencoder_params")
        row.decoder_params_ratio = _ratio(timing["decoder_params"], timings[None]["decoder_params"])
        if not frozen:  # the frozen-encoder plain model generates exactly like the plain one
            row.generate_runs_s = timing["generate_runs_s"]
            row.generate_s = min(timing["generate_runs_s"])
            row.generate_ratio = _ratio(row.generate_s, plain_time)
            row.new_tokens = timing["new_tokens"]
        step = memory.get((latent, frozen))
        if step:
            for key, value in step.items():
                setattr(row, key, value)
            row.train_ratio = _ratio(step["train_peak_mb"], plain_memory.get("train_peak_mb"))
            row.train_step_ratio = _ratio(step["train_step_s"], plain_memory.get("train_step_s"))
        rows.append(row)
    return rows


def _ratio(value, base) -> float | None:
    return round(value / base, 4) if value is not None and base else None


def compare(rows: list[dict]) -> list[dict]:
    """Measured changes beside the paper's (at its latent, ``REPORTED["latent"]``), for each
    latent of the paper's model."""
    table = []
    for row in rows:
        if row["model"] != REPORTED["model"] or row["variant"] != "latent":
            continue
        theirs = row["latent"] == REPORTED["latent"]
        table.append(
            {
                "model": row["model"],
                "latent": row["latent"],
                "decoder_params_m": round(row["decoder_params"] / 1e6, 1),
                "reported_decoder_params_m": REPORTED["decoder_params_m"]["latent"]
                if theirs
                else None,
                "generate_change_pct": _pct(row["generate_ratio"]),
                "reported_inference_time_change_pct": REPORTED["inference_time_change_pct"]
                if theirs
                else None,
                "train_memory_change_pct": _pct(row["train_ratio"]),
                "reported_finetune_memory_change_pct": REPORTED["finetune_gpu_memory_change_pct"]
                if theirs
                else None,
            }
        )
    return table


def _pct(ratio) -> float | None:
    return None if ratio is None else round(100.0 * (ratio - 1.0), 1)


NOTES = [
    "RANDOM WEIGHTS of each architecture's real shapes: parameter counts, time and memory "
    "only; no quality claim (quality needs trained weights).",
    "generate: batch 1, the paper's decoding (4 beams, no repeated 3-gram), exactly "
    "new_tokens tokens; minimum over interleaved rounds; ratio to the plain model of the same "
    "rounds. The machine is shared and noisy: read the ratios.",
    "train_peak_mb: peak RSS above the forked process's baseline during one AdamW step "
    "(weights + gradients + optimizer state + activations), one fork per variant, on the CPU; "
    "the paper measured GPU memory.",
    "The latent variants' autoencoder and decoder are untrained (random), as the plain model.",
    "Decoder parameters: embeddings, decoder layers and LM head, tied weights once.",
]


def run(options: LatentBenchOptions, argv: list[str] | None = None) -> tuple[Path, list[dict]]:
    from tqdm.auto import tqdm

    meta_ = meta(MODULE, argv, notes=NOTES, options=asdict(options))
    rows: list[dict] = []
    for name in tqdm(options.models, desc="architectures", unit="model"):
        rows += [asdict(r) for r in measure_architecture(name, options)]
    path = write_results(
        Path(options.out), options.name, meta_, rows, reported=REPORTED, comparison=compare(rows)
    )
    return path, rows


# Terminal table columns: (title, width).
COLUMNS = [("configuration", 34), ("dec. M", 7), ("ratio", 6), ("gen s", 7), ("ratio", 6),
           ("train MB", 9), ("ratio", 6), ("step s", 7)]  # fmt: skip


def format_table(rows: list[dict]) -> str:
    """Measured rows for the terminal."""
    return text_table(COLUMNS, (
        [r["config"], f"{r['decoder_params'] / 1e6:.1f}", fmt(r["decoder_params_ratio"], ".2f"),
         fmt(r["generate_s"], ".3f"), fmt(r["generate_ratio"], ".2f"),
         fmt(r["train_peak_mb"], ".0f"), fmt(r["train_ratio"], ".2f"),
         fmt(r["train_step_s"], ".2f")]
        for r in rows
    ))  # fmt: skip


def parse_args(argv: list[str] | None = None) -> LatentBenchOptions:
    return parse_options(
        LatentBenchOptions, MODULE, __doc__, argv, ("t5-small + bart-base, latent 256", QUICK)
    )


main = bench_main(parse_args, run, format_table)


if __name__ == "__main__":
    main()
