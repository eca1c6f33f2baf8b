"""Faithfulness of every offline summarizer on the spoken dev set: audio -> transcript -> summary.

    python -m training.corpora.spoken_dev --out data/spoken-dev      # build the audio first
    python -m bench.spoken_dev                                       # every summarizer, 44 docs
    python -m bench.spoken_dev --quick                               # extractive ones, 6 docs
    python -m bench.spoken_dev --summarizers extractive+speech --styles prose key-points

Each document's clip is transcribed once by ``--asr`` (timed), then every configuration
(summarizer or ``<model>+<strategy>``, style, adapter) summarizes the transcript (timed) and
is scored: key-fact recall against the document's facts, unsupported details (numbers, names,
dates and capitalised terms the transcript lacks), ROUGE-1/2/L against the reference summary
and MiniLM similarity. Recall and unsupported details carry 95% bootstrap intervals over
documents. ``click_s_per_min`` is transcription plus summary seconds per minute of audio, the
app's whole click. ``checked`` re-uses the plain summary of the same model and style and
adds the check's own time, which is exactly what the checked strategy runs. Per-document
results are appended to ``<out>/<name>.partial.jsonl`` as they come, so an interrupted run
resumes where it stopped. Results: ``checkpoints/bench/<name>.json`` and ``.csv``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.env import DEFAULT_OUT, bench_main, meta, parse_options, set_threads, write_results
from bench.markdown import text_table
from demo.intervals import mean_interval
from demo.options import option
from demo.provenance import ROOT

MODULE = "bench.spoken_dev"
KIND = "summary-faithfulness"  # the dashboard's faithfulness chart draws rows of this kind
MANIFEST = ROOT / "data" / "spoken-dev" / "manifest.jsonl"
DEFAULT_SUMMARIZERS = (
    "extractive", "extractive+speech", "smollm2-135m", "smollm2-135m+checked",
    "smollm2-135m+rewrite",
)  # fmt: skip
# The committed SmolLM2 adapters (fine-tuned on ACLSum), each run as a plain summarizer.
DEFAULT_ADAPTERS = (
    "checkpoints/sum-smollm2-135m-aclsum-lora-r1/adapter",
    "checkpoints/sum-smollm2-135m-aclsum-nf4-lora-r8/adapter",
)
QUICK = (
    "extractive summarizers on 6 documents",
    {"summarizers": ("extractive", "extractive+speech"), "adapters": ("none",), "limit": 6,
     "out": str(DEFAULT_OUT / "quick")},
)  # fmt: skip


@dataclass(frozen=True)
class SpokenDevOptions:
    manifest: str = option(str(MANIFEST), "the dev set's manifest (training.corpora.spoken_dev)")
    asr: str = option("tiny.en", "Whisper model that transcribes the clips")
    quant: str = option("auto", "its quantization mode")
    summarizers: tuple[str, ...] = option(DEFAULT_SUMMARIZERS, "summarizer choices, as the app's")
    styles: tuple[str, ...] = option(("prose", "key-points"), "summary styles")
    adapters: tuple[str, ...] = option(
        DEFAULT_ADAPTERS, "SmolLM2 adapter folders, run plain in prose (none: no adapter)"
    )
    sentences: int = option(3, "the app's length control (summary sentences)")
    click_budget_s: float = option(10.0, "auto's budget: click seconds per minute of audio")
    limit: int | None = option(None, "the first N documents (none: all)")
    threads: int = option(0, "intra-op threads (0 = torch's default)")
    out: str = option(str(DEFAULT_OUT), "folder for the result files")
    name: str = option("summarize-spoken-dev", "result file name (without suffix)")


@dataclass(frozen=True)
class Config:
    summarizer: str
    style: str
    adapter: str | None = None

    @property
    def label(self) -> str:
        adapter = f" + {Path(self.adapter).parent.name} adapter" if self.adapter else ""
        return f"{self.summarizer}{adapter} ({self.style})"


@dataclass
class Row:
    config: str  # what the dashboard and report call it
    kind: str  # results.charts.faithfulness.KIND: which chart draws the row
    summarizer: str
    style: str
    adapter: str | None
    documents: int
    key_fact_recall: float
    key_fact_recall_ci: list[float]
    unsupported_per_summary: float
    unsupported_ci: list[float]
    docs_with_unsupported: int
    scores: dict[str, float]  # ROUGE-1/2/L/Lsum/S and embedding similarity (fractions)
    summarize_s: float  # mean seconds per summary
    click_s_per_min: float  # transcription + summary seconds per minute of audio
    summary_words: float
    examples: list[dict] = field(default_factory=list)  # id, summary, unsupported


def configs(options: SpokenDevOptions) -> list[Config]:
    """Every configuration the run scores, in table order."""
    found = [Config(s, style) for s in options.summarizers for style in options.styles]
    adapters = [a for a in options.adapters if a != "none"]
    return found + [Config("smollm2-135m", "prose", a) for a in adapters]


def _documents(options: SpokenDevOptions) -> list[dict]:
    from demo.errors import DemoError

    path = Path(options.manifest)
    if not path.is_file():
        raise DemoError(
            f"No dev-set manifest at {path}; build it with "
            "`python -m training.corpora.spoken_dev --out data/spoken-dev`."
        )
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return rows[: options.limit] if options.limit else rows


class _Partial:
    """Per-document results on disk, so that a rerun skips what is done."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done: dict[tuple[str, str], dict] = {}
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    item = json.loads(line)
                    self.done[(item["config"], item["id"])] = item
                except (ValueError, KeyError):
                    continue  # a line cut short by an interruption

    def get(self, config: str, doc_id: str) -> dict | None:
        return self.done.get((config, doc_id))

    def add(self, item: dict) -> None:
        self.done[(item["config"], item["id"])] = item
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(item) + "\n")


def _transcripts(options: SpokenDevOptions, docs: list[dict], partial: _Partial) -> None:
    from tqdm.auto import tqdm

    from demo.asr import transcribe
    from demo.audio import load_audio
    from demo.models import ModelSpec, load_model

    todo = [d for d in docs if partial.get("asr", d["id"]) is None]
    if not todo:
        return
    model = load_model(ModelSpec("asr", options.asr, options.quant, None, "cpu"))
    folder = Path(options.manifest).parent
    for doc in tqdm(todo, desc="transcribing", unit="clip"):
        samples = load_audio(folder / doc["audio"], max_seconds=None)
        started = time.perf_counter()
        text = transcribe(model, samples).text
        seconds = time.perf_counter() - started
        partial.add({"config": "asr", "id": doc["id"], "transcript": text, "seconds": seconds})


def _summarize_all(options, docs, partial: _Partial) -> None:
    from tqdm.auto import tqdm

    from demo.models import ModelSpec, load_model
    from demo.summarize import SummaryOptions, summarize_grounded
    from demo.summarize.grounded import Summary, check
    from demo.summarize.registry import split_summarizer

    loaded_key, loaded = None, None
    for config in configs(options):
        model, strategy = split_summarizer(config.summarizer)
        todo = [d for d in docs if partial.get(config.label, d["id"]) is None]
        if not todo:
            continue
        key = (model, config.adapter)
        if key != loaded_key:
            loaded = None  # free the last model first
            loaded = load_model(ModelSpec("summarizer", model, "auto", config.adapter, "cpu"))
            loaded_key = key
        plain_label = Config(model, config.style, config.adapter).label
        for doc in tqdm(todo, desc=config.label[:40], unit="doc"):
            transcript = partial.get("asr", doc["id"])["transcript"]
            plain = partial.get(plain_label, doc["id"]) if strategy == "checked" else None
            started = time.perf_counter()
            if plain is not None:  # the checked strategy is exactly check(plain summary)
                summary = check(Summary.from_dict(plain["grounding"]), transcript)
                seconds = plain["seconds"] + time.perf_counter() - started
            else:
                how = SummaryOptions(max_sentences=options.sentences, strategy=strategy,
                                     style=config.style)  # fmt: skip
                summary = summarize_grounded(loaded, transcript, how)
                seconds = time.perf_counter() - started
            partial.add({"config": config.label, "id": doc["id"], "seconds": seconds,
                         "grounding": summary.to_dict()})  # fmt: skip


def _interval(values: list[float], seed: int = 0) -> list[float]:
    return [round(bound, 4) for bound in mean_interval(values, seed)]


def _row(config: Config, docs: list[dict], partial: _Partial) -> Row:
    from demo.faithfulness import key_fact_recall, parse_facts
    from demo.metrics import summary_scores

    recalls, unsupported, seconds, words, examples = [], [], [], [], []
    click = 0.0
    for doc in docs:
        item = partial.get(config.label, doc["id"])
        asr = partial.get("asr", doc["id"])
        grounding = item["grounding"]
        recalls.append(key_fact_recall(parse_facts(doc["facts"]), grounding["text"]))
        unsupported.append(grounding["unsupported_count"])
        seconds.append(item["seconds"])
        words.append(len(grounding["text"].split()))
        click += asr["seconds"] + item["seconds"]
        marked = [s["unsupported"] for s in grounding["sentences"]]
        examples.append({"id": doc["id"], "summary": grounding["text"], "unsupported": marked})
    texts = [e["summary"] for e in examples]
    minutes = sum(d["seconds"] for d in docs) / 60
    n = len(docs)
    return Row(
        config=config.label, kind=KIND, summarizer=config.summarizer, style=config.style,
        adapter=config.adapter, documents=n, key_fact_recall=sum(recalls) / n,
        key_fact_recall_ci=_interval(recalls), unsupported_per_summary=sum(unsupported) / n,
        unsupported_ci=_interval(unsupported),
        docs_with_unsupported=sum(u > 0 for u in unsupported),
        scores=summary_scores([d["summary"] for d in docs], texts),
        summarize_s=sum(seconds) / n, click_s_per_min=click / minutes,
        summary_words=sum(words) / n, examples=examples,
    )  # fmt: skip


def run(options: SpokenDevOptions, argv: list[str] | None = None) -> tuple[Path, list[dict]]:
    """Transcribe, summarize and score; write the result files; (json path, rows)."""
    from dataclasses import asdict

    threads = set_threads(options.threads)
    info = meta(MODULE, argv, **{**asdict(options), "threads": threads})
    docs = _documents(options)
    partial = _Partial(Path(options.out) / f"{options.name}.partial.jsonl")
    _transcripts(options, docs, partial)
    _summarize_all(options, docs, partial)
    rows = [asdict(_row(c, docs, partial)) for c in configs(options)]
    asr_wer = _asr_wer(docs, partial)
    auto = choose_auto(rows, options.click_budget_s)
    path = write_results(Path(options.out), options.name, info, rows, asr_wer=asr_wer, auto=auto)
    return path, rows


def choose_auto(rows: list[dict], budget_s: float) -> str | None:
    """What ``auto`` should run: among prose summarizers without an adapter that stated no
    unsupported detail in any document, within ``budget_s`` click seconds per audio minute,
    the one with the best key-fact recall, the faster on a tie (None when none qualifies)."""
    fit = [
        r for r in rows
        if r["style"] == "prose" and not r["adapter"] and r["docs_with_unsupported"] == 0
        and r["click_s_per_min"] <= budget_s
    ]  # fmt: skip
    best = max(fit, key=lambda r: (r["key_fact_recall"], -r["click_s_per_min"]), default=None)
    return best["summarizer"] if best else None


def _asr_wer(docs: list[dict], partial: _Partial) -> float:
    from demo.metrics import asr_scores

    refs = [d["text"] for d in docs]
    hyps = [partial.get("asr", d["id"])["transcript"] for d in docs]
    return asr_scores(refs, hyps)["wer"]


# Terminal table columns: (title, width).
COLUMNS = [("configuration", 52), ("recall", 6), ("95% CI", 11), ("unsup", 5), ("docs", 4),
           ("R-1", 5), ("R-L", 5), ("sim", 5), ("sum s", 6), ("s/min", 6)]  # fmt: skip


def format_table(rows: list[dict]) -> str:
    """A plain-text table of the rows for the terminal."""

    def cells(r: dict) -> list[str]:
        low, high = r["key_fact_recall_ci"]
        s = r["scores"]
        return [r["config"][:52], f"{100 * r['key_fact_recall']:.1f}",
                f"{100 * low:5.1f}-{100 * high:5.1f}", f"{r['unsupported_per_summary']:.2f}",
                f"{r['docs_with_unsupported']:d}", f"{100 * s['rouge1']:.1f}",
                f"{100 * s['rougeL']:.1f}", f"{100 * s['embedding_similarity']:.1f}",
                f"{r['summarize_s']:.2f}", f"{r['click_s_per_min']:.2f}"]  # fmt: skip

    return text_table(COLUMNS, (cells(r) for r in rows))


def _table_with_auto(rows: list[dict]) -> str:
    auto = choose_auto(rows, SpokenDevOptions.click_budget_s)
    return format_table(rows) + f"\n\nauto (best recall, no unsupported detail): {auto}"


def parse_args(argv: list[str] | None = None) -> SpokenDevOptions:
    return parse_options(SpokenDevOptions, MODULE, __doc__, argv, QUICK)


main = bench_main(parse_args, run, _table_with_auto)


if __name__ == "__main__":
    main()
