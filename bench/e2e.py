"""Speech -> summary three ways on the abstract-clip test split: oracle, cascade, end-to-end.

    python -m bench.e2e --clips data/aclsum-talks/abstracts.jsonl          # every test clip
    python -m bench.e2e --clips /tmp/e2e-corpus/abstracts.jsonl --max-clips 2 --name e2e-smoke

- ``oracle``: the gold abstract text (what was spoken) -> SmolLM2 with its best adapter in
  checkpoints/ (highest validation ROUGE-1 of a ``smollm2-135m`` LoRA run), else zero-shot;
  the ceiling a perfect transcript would give.
- ``cascade``: Whisper (the E2E model's encoder size, the app's auto mode) -> the same SmolLM2.
- ``e2e``: the end-to-end model (``--e2e``, else the newest summarizing one in checkpoints/).

Per system: ROUGE-1/2/L/Lsum/S and MiniLM similarity against the clip's ACLSum summary (its
three aspect sentences joined), seconds per audio minute (ASR/speech + summary stages, load
excluded: the app's own pipeline timings), peak RSS, the parameters trained for it, and its
ROUGE-L against the next clip's summary (how much a summary blind to the speech scores). Each
system runs in a forked process of its own, so its memory peak is its own. Results go to
``checkpoints/bench/<name>.json`` and ``.csv``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.clips import manifest_rows
from bench.env import DEFAULT_OUT, bench_main, parse_options, recorded
from demo.measure import run_in_fork
from demo.options import option
from demo.provenance import repo_relative

MODULE = "bench.e2e"
SYSTEMS = ("oracle", "cascade", "e2e")
LM = "smollm2-135m"
OTHER = "rougeL_other"  # ROUGE-L against another clip's reference (``keep_other_scores``)


@dataclass(frozen=True)
class E2EBenchOptions:
    clips: str = option("data/aclsum-talks/abstracts.jsonl", "abstract-clip manifest")
    split: str = option("test", "manifest split scored")
    max_clips: int | None = option(None, "score only the first N clips of the split")
    e2e: str | None = option(None, "end-to-end model folder (none: the newest in checkpoints/)")
    lm_adapter: str | None = option("auto", "SmolLM2 adapter: auto (best in checkpoints/), none")
    summary_sentences: int = option(3, "the app's length control (ACLSum: three aspects)")
    systems: tuple[str, ...] = option(SYSTEMS, "which of oracle, cascade, e2e to run")
    name: str = option("e2e", "result file name under checkpoints/bench/")
    out: str = option(str(DEFAULT_OUT), "result folder")


@dataclass
class Row:
    config: str  # "<system> · <clips> abstract clips": what the dashboard labels it
    kind: str  # always "e2e"
    system: str
    clips: int
    audio_minutes: float
    rouge1: float
    rouge2: float
    rougeL: float
    rougeLsum: float
    rougeS: float
    embedding_similarity: float
    s_per_audio_minute: float  # speech + summary stages, model loading excluded
    peak_rss_mb: float
    trained_params: int  # 0: nothing trained for it
    lm_adapter: str | None
    example: str
    # The same summaries scored against the next clip's reference: what a summary that ignored
    # the speech would score (ACLSum summaries share their field's words). Own - other, clip by
    # clip, is how much of the score comes from this recording.
    rougeL_other: float = 0.0
    documents: list = field(default_factory=list)  # per clip: {"id", "summary", ROUGE}


def best_adapter(root: Path) -> tuple[str | None, int]:
    """(adapter folder, its trained parameters) of the SmolLM2 LoRA run with the highest final
    validation ROUGE-1, or (None, 0)."""
    from demo.adapters import list_adapters

    best: tuple[float, str | None, int] = (-1.0, None, 0)
    for info in list_adapters(root, base=LM):
        run = info.path.parent
        try:
            lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
            score = max(x["rouge1"] for x in lines if x.get("split") == "validation")
            trained = json.loads((run / "run.json").read_text()).get("trainable_params", 0)
        except (OSError, ValueError, KeyError):
            continue
        if score > best[0]:
            best = (score, str(info.path), int(trained or 0))
    return best[1], best[2]


def _run_system(system: str, clips: list[dict], options: E2EBenchOptions, adapter, e2e) -> dict:
    """Predictions, stage seconds and peak RSS of one system over every clip (in a fork)."""
    from demo.measure import Measurements, measure
    from demo.pipeline import PipelineOptions, run_pipeline

    predictions, seconds, peaks = [], 0.0, []
    if system == "oracle":
        from demo.models import ModelSpec, load_model
        from demo.summarize import SummaryOptions, summarize

        loaded = load_model(ModelSpec("summarizer", LM, "full", adapter))
        for clip in clips:
            m = Measurements()
            with measure("summarize", m):
                started = time.perf_counter()
                predictions.append(
                    summarize(
                        loaded,
                        clip["text"],
                        SummaryOptions(max_sentences=options.summary_sentences),
                    )
                )
                seconds += time.perf_counter() - started  # fmt: skip
            peaks.append(m.peak_rss_mb())
        return {"predictions": predictions, "seconds": seconds, "peak_rss_mb": max(peaks)}
    if system == "cascade":
        from demo.bridge.e2e_io import read_e2e_config

        encoder = read_e2e_config(e2e)[0].encoder if e2e else "tiny.en"
        pipeline = PipelineOptions(asr=encoder, summarizer=LM, summarizer_quant="full",
                                   summarizer_adapter=adapter,
                                   summary_sentences=options.summary_sentences)  # fmt: skip
    else:
        pipeline = PipelineOptions(pipeline="e2e", e2e_model=e2e,
                                   summary_sentences=options.summary_sentences)  # fmt: skip
    for clip in clips:
        result = run_pipeline(clip["audio"], pipeline)
        predictions.append(result.summary)
        seconds += result.timings["asr"] + result.timings["summarize"]
        peaks.append(result.peak_rss_mb)
    return {"predictions": predictions, "seconds": seconds, "peak_rss_mb": max(peaks)}


def _e2e_trained(e2e: str) -> int:
    """Parameters the E2E model trained: its run's count, else the sizes of its saved tensors
    (the Q-Former's query path, the projection and any adapter: all of them train)."""
    from safetensors import safe_open

    from demo.bridge.e2e_io import ADAPTER_DIR, E2E_DIR, WEIGHTS_FILE, e2e_folder

    folder = e2e_folder(e2e)
    run = folder.parent / "run.json"
    if folder.name == E2E_DIR and run.is_file():
        return int(json.loads(run.read_text()).get("trainable_params") or 0)
    total = 0
    for path in (folder / WEIGHTS_FILE, folder / ADAPTER_DIR / "adapter_model.safetensors"):
        if path.is_file():
            with safe_open(str(path), framework="pt") as handle:
                for key in handle.keys():
                    count = 1
                    for size in handle.get_slice(key).get_shape():
                        count *= size
                    total += count
    return total


def run(options: E2EBenchOptions) -> list[Row]:
    from bench.summarize import keep_document_scores
    from demo.metrics import summary_scores
    from demo.settings import settings

    clips = manifest_rows(options.clips, options.split, options.max_clips)
    root = settings().checkpoints
    adapter, adapter_params = (None, 0)
    if options.lm_adapter == "auto":
        adapter, adapter_params = best_adapter(root)
    elif options.lm_adapter not in (None, "none"):
        adapter = options.lm_adapter
    e2e = options.e2e
    if "e2e" in options.systems and e2e is None:
        from demo.bridge.e2e_io import latest_e2e

        e2e = str(latest_e2e(root))
    references = [clip["summary"] for clip in clips]
    minutes = sum(clip["seconds"] for clip in clips) / 60
    # Every system runs before anything is scored here: a fork after this process has run
    # torch (the MiniLM of the similarity score) can deadlock in its thread pool.
    outputs = {
        s: run_in_fork(_run_system, s, clips, options, adapter, e2e) for s in options.systems
    }
    rows = []
    for system, out in outputs.items():
        scores = summary_scores(references, out["predictions"])
        trained = _e2e_trained(e2e) if system == "e2e" else adapter_params
        rows.append(Row(
            f"{system} · {len(clips)} abstract clips", "e2e", system, len(clips),
            round(minutes, 3), *(round(scores[k], 4) for k in (
                "rouge1", "rouge2", "rougeL", "rougeLsum", "rougeS", "embedding_similarity")),
            round(out["seconds"] / minutes, 2), round(out["peak_rss_mb"], 1), trained,
            repo_relative(adapter) if system != "e2e" else None, out["predictions"][0],
            documents=[{"id": clip.get("id") or Path(clip["audio"]).stem, "summary": summary}
                       for clip, summary in zip(clips, out["predictions"], strict=True)],
        ))  # fmt: skip
        keep_document_scores(rows[-1].documents, references)  # paired intervals in the report
        keep_other_scores(rows[-1], references)
    return rows


def keep_other_scores(row: Row, references: list[str]) -> None:
    """Score ``row``'s summaries against the next clip's reference (the last against the
    first): ``rougeL_other`` per clip and its mean on the row."""
    from demo.metrics import rouge_per_document

    other = references[1:] + references[:1]
    found = rouge_per_document(other, [d["summary"] for d in row.documents])
    for entry, scores in zip(row.documents, found, strict=True):
        entry[OTHER] = scores["rougeL"]
    row.rougeL_other = round(sum(d[OTHER] for d in row.documents) / max(len(found), 1), 4)


def format_table(rows: list[Row]) -> str:
    return "\n".join(
        f"{r.system:8} R1 {r.rouge1:.3f} R2 {r.rouge2:.3f} RL {r.rougeL:.3f} "
        f"sim {r.embedding_similarity:.3f}  {r.s_per_audio_minute:.1f} s/audio-min  "
        f"{r.peak_rss_mb:.0f} MB  trained {r.trained_params:,}"
        for r in rows
    )


def parse_args(argv: list[str] | None = None) -> E2EBenchOptions:
    return parse_options(E2EBenchOptions, MODULE, __doc__, argv, ("(no quick set)", {}))


_bench_main = bench_main(parse_args, recorded(MODULE, run), format_table)


def main(argv: list[str] | None = None) -> int:
    _bench_main(argv)  # bad flags or bad input (a missing clip file, a bad model): one line
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
