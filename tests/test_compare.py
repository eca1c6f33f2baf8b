"""Compare view core: real tiny.en in two quantization modes on jfk.flac, scored against the
reference; word diff highlighting; CSV export; failures kept per row."""

import csv

import pytest

from dashboard import compare_view
from dashboard import handlers as h
from dashboard.compare_view import write_csv
from dashboard.diff import DIFF_CHANGED, DIFF_EXTRA, DIFF_MISSING, diff_html, word_diff
from demo.compare import MAX_CONFIGS, CompareRow, compare, config_label, unique_labels
from demo.errors import DemoError
from demo.models import ModelCache
from demo.pipeline import PipelineOptions, References

JFK_SUMMARY = "Ask not what your country can do for you."
CONFIG = {"asr": "tiny.en", "quant": "full", "asr_adapter": "none", "summarizer": "extractive",
          "summarizer_adapter": "none"}  # fmt: skip


@pytest.fixture(scope="module")
def two_rows(jfk_path, jfk_text):
    configs = [
        PipelineOptions(asr="tiny.en", quant="full", summarizer="extractive"),
        PipelineOptions(asr="tiny.en", quant="dynamic-int8", summarizer="extractive"),
    ]
    # A cache bound of 2 forces the full-precision Whisper out when the int8 one loads.
    references = References(transcript=jfk_text, summary=JFK_SUMMARY)
    return compare(jfk_path, configs, references, cache=ModelCache(max_models=2))


def test_two_tiny_configurations_give_two_scored_rows(two_rows):
    assert [r.config for r in two_rows] == [
        "tiny.en/full → extractive",
        "tiny.en/dynamic-int8 → extractive",
    ]
    for row in two_rows:
        assert row.ok and row.error is None
        assert "ask not what your country" in row.result.transcript.lower()
        assert 0.0 <= row.scores["wer"] <= 0.1
        assert 0.0 <= row.scores["cer"] <= 0.1
        assert row.scores["rouge1"] > 0.3  # the summary contains the reference sentence
        assert 0.0 < row.scores["embedding_similarity"] <= 1.0 + 1e-6
        record = row.record()
        assert record["status"] == "ok"
        assert record["asr_s"] > 0 and record["total_s"] >= record["asr_s"]
        assert record["weights_mb"] == pytest.approx(
            record["asr_weights_mb"] + record["summarizer_weights_mb"]
        )
    full, int8 = (r.record() for r in two_rows)
    assert int8["asr_weights_mb"] < full["asr_weights_mb"]  # quantized Linear layers are smaller
    assert int8["models_cached"] == "summarizer"  # the extractive model was reused


def test_table_charts_cards_and_csv(two_rows, tmp_path, jfk_text):
    table = compare_view.compare_table(two_rows)
    assert len(table) == 2 and {"WER", "CER", "R-1", "emb. sim."} <= set(table.columns)
    assert (table["WER"] <= 10.0).all() and "status" not in table.columns  # all ran
    figures = compare_view.compare_figures(two_rows, "plotly_white")
    assert list(figures) == list(compare_view.COMPARE_FIGURES)
    latency = figures["compare_latency"]
    assert {t.name for t in latency.data} == {"Load", "Transcribe", "Summarize"}
    assert list(latency.data[0].x) == [r.config for r in two_rows]
    errors = figures["compare_transcript_errors"]
    assert {t.name for t in errors.data} == {"WER", "CER"}
    assert max(errors.data[0].y) <= 10.0
    summary_names = {t.name for t in figures["compare_summary_scores"].data}
    assert {"ROUGE-1", "ROUGE-2", "ROUGE-L", "ROUGE-S", "Embedding similarity"} <= summary_names

    cards = compare_view.compare_cards_html(two_rows, jfk_text, JFK_SUMMARY)
    assert cards.count('class="compare-card"') == 2 and "diff-legend" in cards

    path = write_csv(two_rows, tmp_path / "out" / "compare.csv")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2
    assert rows[1]["quant"] == "dynamic-int8"
    assert float(rows[0]["wer"]) <= 0.1 and "ask not" in rows[0]["transcript"].lower()


def test_compare_handler_by_name_returns_rows_csv_and_charts(jfk_path, jfk_text):
    configs = h.add_config([], CONFIG)
    assert h.config_rows(configs) == [
        [1, "tiny.en", "full", "none", "none", "extractive", "none", "cascade", h.NEWEST_E2E]
    ]
    out = h.run_compare({"audio": str(jfk_path), "configs": configs, "theme": "dark",
                         "reference_transcript": jfk_text, "summary_sentences": 3})  # fmt: skip
    assert out["status"] == "Ran 1 configurations."
    assert out["table"]["WER"].iloc[0] <= 10.0
    assert "R-1" not in out["table"].columns  # no reference summary given
    assert out["compare_latency"].layout.template.layout.paper_bgcolor != "white"
    assert out["csv"].endswith("compare.csv") and len(out["rows"]) == 1
    assert "ask not" in out["cards"].lower()


def test_add_config_validates_and_limits():
    with pytest.raises(DemoError, match="Unknown"):
        h.add_config([], {**CONFIG, "quant": "int3"})
    with pytest.raises(DemoError, match="only on cuda"):  # checked when added, not at Run
        h.add_config([], {**CONFIG, "quant": "fp16"})
    configs = h.add_sweep([], CONFIG)
    assert [c["quant"] for c in configs] == list(h.SWEEP_QUANTS)
    configs = h.add_sweep(configs, {**CONFIG, "asr": "base"})
    assert len(configs) == MAX_CONFIGS
    with pytest.raises(DemoError, match=f"At most {MAX_CONFIGS}"):
        h.add_config(configs, CONFIG)
    with pytest.raises(DemoError, match="Add at least one"):
        h.run_compare({"audio": "clip.flac", "configs": []})


def test_failing_configuration_becomes_an_error_row(jfk_path, tmp_path):
    missing = PipelineOptions(asr="tiny.en", asr_adapter=str(tmp_path / "no-such-adapter"))
    rows = compare(jfk_path, [missing], cache=ModelCache(max_models=1))
    assert not rows[0].ok and rows[0].error
    record = rows[0].record()
    assert record["status"].startswith("error: ") and record["wer"] is None
    assert compare_view.compare_table(rows)["status"].iloc[0].startswith("error")
    with pytest.raises(DemoError, match="at most"):
        compare(jfk_path, [PipelineOptions()] * (MAX_CONFIGS + 1))
    with pytest.raises(DemoError, match="at least one"):
        compare(jfk_path, [])
    with pytest.raises(DemoError, match="over the 20 s limit"):  # 11 s x 2 configurations
        compare(jfk_path, [PipelineOptions()] * 2, max_total_seconds=20)


def test_word_diff_marks_changed_extra_and_missing_words():
    segments = word_diff(
        "And so my fellow Americans, ask not what your country can do",
        "and so my fellow american ask what your nation can do for you.",
    )
    assert "".join(text for text, _ in segments).startswith("and so my fellow american")
    labelled = {text.strip(): label for text, label in segments if label}
    assert labelled == {
        "american": DIFF_CHANGED,
        "not": DIFF_MISSING,
        "nation": DIFF_CHANGED,
        "for you.": DIFF_EXTRA,
    }
    assert word_diff("Same words, here.", "same words here") == [("same words here", None)]
    assert word_diff("a b", "") == [("a b", DIFF_MISSING)]


def test_diff_html_escapes_text():
    page = diff_html("a <b> c", "a <script> c")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert 'class="diff-changed"' in page
    assert diff_html("", "<i>x</i>") == "&lt;i&gt;x&lt;/i&gt;"


def test_labels_are_unique_and_name_the_adapter_run():
    options = PipelineOptions(
        asr="tiny.en", quant="nf4", asr_adapter="/x/checkpoints/run-7/adapter"
    )
    assert config_label(options) == "tiny.en/nf4+run-7 → auto"
    assert unique_labels(["a", "b", "a", "a"]) == ["a", "b", "a #2", "a #3"]


def test_csv_cells_cannot_run_as_formulas(tmp_path):
    row = CompareRow("=HYPERLINK(1)", PipelineOptions(), error="-1+1")
    path = write_csv([row], tmp_path / "x.csv")
    text = path.read_text()
    assert "'=HYPERLINK(1)" in text and "'error" not in text
