"""The thesis' memory table (Table 4.2) measured: Whisper weights per size and precision.

    python -m bench.memory                       # tiny, base, small, medium, large-v3
    python -m bench.memory --sizes tiny base     # a subset

Each size's real architecture (``SIZES``: the dimensions of openai/whisper-<size>) is built
with random weights -- the footprint doesn't depend on the values, so nothing is downloaded --
saved once as an fp16 checkpoint in a temporary folder, and loaded back the way the app loads a
Whisper model (``demo.quant.from_pretrained_kwargs``, ``proj_out`` left unquantized) at fp32,
fp16, bitsandbytes int8 and NF4. The quantized ones are loaded twice: with their unquantized
parts in fp16 (as on a GPU, and as the thesis measured) and in fp32 (as the app does on a CPU).
Each size runs in a forked process, so memory is returned between sizes.

Trainable parameters under LoRA and AdaLoRA come from the training scripts' own
``training.modeling.make_trainable`` at their default ranks, on a model built on the meta
device. Results go to ``checkpoints/bench/memory.json`` / ``.csv``.
"""

from __future__ import annotations

import gc
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.env import (
    DEFAULT_OUT,
    bench_parser,
    meta,
    one_line_errors,
    write_results,
)
from bench.markdown import fmt
from demo.measure import run_in_fork
from demo.provenance import ROOT

MODULE = "bench.memory"
MB = 1024 * 1024
COMMON = {"max_source_positions": 1500, "max_target_positions": 448}
# d_model, layers (encoder = decoder), heads, mel bins, vocabulary: openai/whisper's configs.
SIZES: dict[str, dict[str, int]] = {
    "tiny": {"d_model": 384, "layers": 4, "heads": 6, "num_mel_bins": 80, "vocab_size": 51865},
    "base": {"d_model": 512, "layers": 6, "heads": 8, "num_mel_bins": 80, "vocab_size": 51865},
    "small": {"d_model": 768, "layers": 12, "heads": 12, "num_mel_bins": 80, "vocab_size": 51865},
    "medium": {"d_model": 1024, "layers": 24, "heads": 16, "num_mel_bins": 80, "vocab_size": 51865},
    "large-v3": {
        "d_model": 1280,
        "layers": 32,
        "heads": 20,
        "num_mel_bins": 128,
        "vocab_size": 51866,
    },
}
REGISTRY_NAMES = {"large-v3": "large-v3"}  # size -> demo.registry name (others: the size)
PRECISIONS = ("fp32", "fp16", "int8", "nf4")
QUANT_FOR = {"fp32": "fp32", "fp16": "fp16", "int8": "int8", "nf4": "nf4"}  # demo.quant modes
THESIS_CSV = ROOT / "assets" / "reference" / "thesis_whisper_memory.csv"
THESIS_COLUMNS = {"fp16": "memory_fp_mb", "int8": "memory_int8_mb", "nf4": "memory_int4_mb"}


def whisper_config(size: str):
    """A ``WhisperConfig`` with the real dimensions of Whisper ``size``."""
    from transformers import WhisperConfig

    dims = SIZES[size]
    return WhisperConfig(
        d_model=dims["d_model"],
        encoder_layers=dims["layers"],
        decoder_layers=dims["layers"],
        encoder_attention_heads=dims["heads"],
        decoder_attention_heads=dims["heads"],
        encoder_ffn_dim=4 * dims["d_model"],
        decoder_ffn_dim=4 * dims["d_model"],
        num_mel_bins=dims["num_mel_bins"],
        vocab_size=dims["vocab_size"],
        tie_word_embeddings=True,
        **COMMON,
    )


def save_random_checkpoint(size: str, folder: Path) -> int:
    """Save a randomly initialised fp16 Whisper of ``size`` into ``folder``; its param count."""
    import torch
    from transformers import WhisperForConditionalGeneration

    model = WhisperForConditionalGeneration._from_config(whisper_config(size), dtype=torch.float16)
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(folder, safe_serialization=True)
    del model
    gc.collect()
    return params


def _split_bytes(model) -> tuple[float, float, list[str]]:
    """(quantized MB, unquantized MB, names of the unquantized tensor kinds) of a bnb model."""
    import torch

    quantized = unquantized = 0
    kinds: set[str] = set()
    seen: set[int] = set()
    for name, value in model.state_dict(keep_vars=True).items():
        if not isinstance(value, torch.Tensor) or value.numel() == 0:
            continue
        if value.data_ptr() in seen:
            continue
        seen.add(value.data_ptr())
        size = value.numel() * value.element_size()
        if value.dtype in (torch.int8, torch.uint8) or ".weight." in name or name.endswith("SCB"):
            quantized += size  # payload plus its scales / quantization state
        else:
            unquantized += size
            kinds.add(_kind(name))
    return quantized / MB, unquantized / MB, sorted(kinds)


def _kind(name: str) -> str:
    for key, label in (
        ("embed_tokens", "token embedding (tied proj_out)"),
        ("embed_positions", "positional embeddings"),
        ("conv", "convolutions"),
        ("layer_norm", "layer norms"),
        (".bias", "linear biases"),
    ):
        if key in name:
            return label
    return name


def measure_precision(folder: Path, precision: str, rest_dtype: str) -> dict[str, Any]:
    """Load the checkpoint like the app does and measure its weights."""
    import torch
    from transformers import WhisperForConditionalGeneration

    from demo.measure import weights_footprint_mb
    from demo.quant import check_mode, from_pretrained_kwargs, get_quant_mode

    mode = get_quant_mode(QUANT_FOR[precision])
    if mode.bnb:
        check_mode(mode, "cpu")
    kwargs = from_pretrained_kwargs(mode, "cpu", skip_modules=["proj_out"])
    kwargs["dtype"] = getattr(torch, rest_dtype)
    if mode.bnb and mode.bnb == "nf4":
        kwargs["quantization_config"].bnb_4bit_compute_dtype = kwargs["dtype"]
    start = time.perf_counter()
    model = WhisperForConditionalGeneration.from_pretrained(folder, **kwargs)
    row: dict[str, Any] = {
        "load_s": round(time.perf_counter() - start, 2),
        "weights_mb": weights_footprint_mb(model),
        "hf_footprint_mb": model.get_memory_footprint() / MB,
    }
    if mode.bnb:
        quantized, unquantized, kinds = _split_bytes(model)
        row.update(quantized_mb=quantized, unquantized_mb=unquantized, unquantized_parts=kinds)
    del model
    gc.collect()
    return row


def trainable(size: str) -> dict[str, Any]:
    """Trainable parameters (% of the model) under the training scripts' default LoRA and
    AdaLoRA, counted on a model built on the meta device (no memory, no weights)."""
    import torch
    from transformers import WhisperForConditionalGeneration

    from demo.asr.registry import get_whisper_model
    from training.config import AsrConfig
    from training.modeling import make_trainable

    out: dict[str, Any] = {"size": size}
    entry = get_whisper_model(REGISTRY_NAMES.get(size, size))
    for method in ("lora", "adalora"):
        with torch.device("meta"):
            model = WhisperForConditionalGeneration(whisper_config(size))
        base = sum(p.numel() for p in model.parameters())
        config = AsrConfig(model=entry.name, method=method, train="(none)")
        result = make_trainable(model, None, entry, config, "asr", total_steps=1000)
        peft_config = result.model.peft_config["default"]
        out["params_m"] = base / 1e6
        out[f"{method}_trainable"] = result.trainable_params
        out[f"{method}_pct"] = 100.0 * result.trainable_params / result.total_params
        out[f"{method}_targets"] = sorted(peft_config.target_modules)
        if method == "lora":
            out["lora_r"] = peft_config.r
        else:
            out["adalora_init_r"] = peft_config.init_r
            out["adalora_target_r"] = peft_config.target_r
            # AdaLoRA prunes the ranks from init_r to an average of target_r; PEFT still counts
            # the pruned (masked) parameters as trainable, so also give the final budget.
            share = peft_config.target_r / peft_config.init_r
            out["adalora_budget_pct"] = out["adalora_pct"] * share
        del model, result
    return out


def measure_size(size: str, rest_dtypes: tuple[str, ...] = ("float16", "float32")) -> dict:
    """Every precision of one size, plus trainable %.

    ``rows``: one per precision, quantized ones with fp16 unquantized parts (the thesis'
    setting; what the dashboard charts); ``cpu_rows``: int8 / nf4 with fp32 unquantized parts
    (the app on a CPU).
    """
    rows, cpu_rows = [], []
    with tempfile.TemporaryDirectory(prefix=f"whisper-{size}-") as tmp:
        folder = Path(tmp)
        params = save_random_checkpoint(size, folder)
        for precision in PRECISIONS:
            if precision in ("fp32", "fp16"):
                variants = ["float32" if precision == "fp32" else "float16"]
            else:
                variants = list(rest_dtypes)
            for rest in variants:
                row = measure_precision(folder, precision, rest)
                row.update(size=size, precision=precision, rest_dtype=rest, params_m=params / 1e6)
                cpu = precision in ("int8", "nf4") and rest == "float32"
                row["config"] = f"whisper-{size} {precision}" + (" (fp32 rest)" if cpu else "")
                row["kind"] = "memory"
                (cpu_rows if cpu else rows).append(row)
    return {"rows": rows, "cpu_rows": cpu_rows, "trainable": trainable(size)}


def thesis_table() -> dict[str, dict[str, float]]:
    """thesis_whisper_memory.csv by size family (tiny ... large)."""
    import csv

    with open(THESIS_CSV, newline="") as f:
        return {
            r["size"]: {k: float(v) for k, v in r.items() if k != "size" and v}
            for r in csv.DictReader(f)
        }


def compare(rows: list[dict], cpu_rows: list[dict], trainables: list[dict]) -> list[dict]:
    """Measured beside reported, per size: MB at fp16 / int8 / nf4 and AdaLoRA %."""
    reported = thesis_table()
    table = []
    for t in trainables:
        size = t["size"]
        family = "large" if size.startswith("large") else size
        thesis = reported.get(family, {})
        entry: dict[str, Any] = {"size": size, "params_m": t["params_m"]}
        entry["thesis_params_m"] = thesis.get("params_m")
        for precision in ("fp32", "fp16", "int8", "nf4"):
            main = [r for r in rows if r["size"] == size and r["precision"] == precision]
            entry[f"{precision}_mb"] = main[0]["weights_mb"] if main else None
            cpu = [r for r in cpu_rows if r["size"] == size and r["precision"] == precision]
            if cpu:
                entry[f"{precision}_cpu_mb"] = cpu[0]["weights_mb"]
            if main and "unquantized_mb" in main[0]:
                entry[f"{precision}_unquantized_mb"] = main[0]["unquantized_mb"]
            if precision in THESIS_COLUMNS:
                entry[f"thesis_{precision}_mb"] = thesis.get(THESIS_COLUMNS[precision])
        for key in ("lora_pct", "adalora_pct", "adalora_budget_pct"):
            entry[key] = t[key]
        entry["thesis_adalora_pct"] = thesis.get("adalora_trainable_pct")
        table.append(entry)
    return table


def run(sizes: tuple[str, ...], out: Path, argv: list[str] | None = None) -> Path:
    from tqdm.auto import tqdm

    meta_ = meta(MODULE, argv, notes=NOTES)
    rows, cpu_rows, trainables = [], [], []
    for size in tqdm(sizes, desc="Whisper sizes", unit="size"):
        result = run_in_fork(measure_size, size)
        rows += result["rows"]
        cpu_rows += result["cpu_rows"]
        trainables.append(result["trainable"])
    table = compare(rows, cpu_rows, trainables)
    return write_results(
        out,
        "memory",
        meta_,
        rows,
        csv_rows=rows + cpu_rows,
        cpu_rows=cpu_rows,
        trainable=trainables,
        comparison=table,
    )


NOTES = [
    "weights_mb: bytes of every weight and buffer (demo.measure.weights_footprint_mb), "
    "quantized payloads with their scales; MiB.",
    "Random weights of each size's real shapes; footprint doesn't depend on the values.",
    "int8 / nf4 rows with fp16 rest: unquantized parts in fp16, as on a GPU and in the thesis; "
    "'(float32 rest)' rows: as the app loads them on a CPU.",
    "AdaLoRA % is PEFT's count at init_r (pruned ranks stay allocated); adalora_budget_pct "
    "scales it to the final average rank target_r.",
]


@one_line_errors
def main(argv: list[str] | None = None) -> None:
    p = bench_parser(MODULE, __doc__)
    p.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES))
    p.add_argument("--out", default=str(DEFAULT_OUT))
    args = p.parse_args(argv)
    path = run(tuple(args.sizes), Path(args.out), argv)
    from bench.env import read_results

    data = read_results(path)
    print(format_comparison(data["comparison"]))
    print(f"\nwritten: {path} (+ .csv)")


def format_comparison(table: list[dict]) -> str:
    """Measured vs thesis, one line per size, for the terminal."""
    columns = [  # (heading, field, format, width)
        ("params M", "params_m", ".1f", 8),
        ("fp32", "fp32_mb", ".0f", 7),
        ("fp16", "fp16_mb", ".0f", 7),
        ("thesis", "thesis_fp16_mb", ".0f", 7),
        ("int8", "int8_mb", ".0f", 7),
        ("thesis", "thesis_int8_mb", ".0f", 7),
        ("nf4", "nf4_mb", ".0f", 7),
        ("thesis", "thesis_nf4_mb", ".0f", 7),
        ("LoRA %", "lora_pct", ".2f", 7),
        ("AdaLoRA %", "adalora_pct", ".2f", 9),
        ("thesis", "thesis_adalora_pct", ".1f", 7),
    ]
    head = f"{'size':9s} " + " ".join(f"{name:>{width}s}" for name, _, _, width in columns)
    lines = [head, "-" * len(head)]
    for e in table:
        cells = (f"{fmt(e[key], spec):>{width}s}" for _, key, spec, width in columns)
        lines.append(f"{e['size']:9s} " + " ".join(cells))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
