"""The research systems' sections of ``assets/benchmarks.md`` (written by bench.report).

- ``latent.json`` (bench.latent): latent-space decoder compression on the real architectures'
  shapes with random weights: sizes, generation time and training memory as ratios.
- ``latent-whisper*.json`` (bench.latent_whisper): Whisper's real weights reading an
  autoencoder's reconstruction of the encoder output (WER per latent), and narrow decoders.
"""

from __future__ import annotations

from pathlib import Path

from bench.env import read_results
from bench.markdown import fmt, table


def systems_sections(folder: Path) -> list[str]:
    """Every research-system section whose result file is in ``folder``."""
    lines: list[str] = []
    latent = read_results(folder / "latent.json")
    if latent:
        lines += latent_section(latent)
    for path in sorted(folder.glob("latent-whisper*.json")):
        data = read_results(path)
        if data and data.get("rows"):
            lines += latent_whisper_section(data)
    return lines


def latent_section(data: dict) -> list[str]:
    """Latent-space compression of summarizer decoders (bench.latent): size, time, memory."""
    meta, rows = data["meta"], data["rows"]
    out = ["## Latent-space decoder compression: sizes, speed and training memory", ""]
    out += [f"`{meta.get('command', 'python -m bench.latent')}`; ratios are to the plain "
            "model of the same rounds.", ""]  # fmt: skip
    rows_ = [
        [
            r["model"],
            r["variant"] if r["latent"] is None else f"latent {r['latent']}",
            fmt(r["decoder_params"] / 1e6, ".1f") + " M",
            fmt(r["decoder_params_ratio"]),
            fmt(r["generate_ratio"]),
            fmt(r["train_ratio"]),
            fmt(r["train_step_ratio"]),
        ]
        for r in rows
    ]
    header = ["model", "variant", "decoder params", "params ratio", "generate time ratio",
              "training memory ratio", "step time ratio"]  # fmt: skip
    out += table(header, rows_) + [""]
    out += [f"- {note}" for note in meta.get("notes", [])]
    return out + [""]


def _pct(value) -> str:
    return fmt(None if value is None else 100 * value, ".1f")


def latent_whisper_section(data: dict) -> list[str]:
    """Whisper with real weights behind a latent bottleneck (bench.latent_whisper)."""
    meta, rows = data["meta"], data["rows"]
    models = ", ".join(sorted({r["model"] for r in rows}))
    clips = max(r["clips"] for r in rows)
    out = [f"## How much of Whisper's encoder space carries the words ({models}, real weights)", ""]
    out += [f"`{meta.get('command', 'python -m bench.latent_whisper')}`: {clips} clips of the "
            f"manifest's {meta.get('options', {}).get('split', 'test')} split. *reconstruction*: "
            "the frozen decoder reads the autoencoder's reconstruction of the encoder output; "
            "*latent*: a decoder rebuilt at the latent width. FVU: the share of the encoder "
            "output's variance the reconstruction misses.", ""]  # fmt: skip
    order = {"original": 0, "reconstruction": 1, "latent": 2}
    rows = sorted(rows, key=lambda r: (r["model"], order.get(r["variant"], 3), -(r["latent"] or 0)))
    body = [
        [
            r["model"],
            r["variant"] if r["latent"] is None else f"{r['variant']} {r['latent']}",
            _pct(r.get("wer")),
            _pct(r.get("cer")),
            fmt(r.get("reconstruction_fvu"), ".3f"),
            fmt(None if r.get("decoder_params") is None else r["decoder_params"] / 1e6, ".1f"),
            fmt(r.get("decoder_ratio")),
            r.get("run_id") or "–",
        ]
        for r in rows
    ]
    header = ["model", "variant", "WER %", "CER %", "FVU", "decoder params (M)",
              "decoder time / token ratio", "run"]  # fmt: skip
    out += table(header, body) + [""]
    out += [f"- {note}" for note in meta.get("notes", [])]
    return out + [""]
