"""Per-paper scores behind the summarizer tables' paired intervals: bench.doc_scores adds them
to a committed bench.summarize file from its stored summaries (checked against the file's own
ROUGE-L), and the report's tables carry the interval of each engine's gap to full, with
"not distinguishable" where it holds 0; bench.e2e's per-clip scores do the same for the
speech -> summary gaps."""

from __future__ import annotations

import json
import shutil

import pytest

from bench.env import ROOT, read_results
from demo.metrics import rouge_per_document, rouge_scores

BENCH = ROOT / "checkpoints" / "bench"


def test_the_papers_scores_average_to_the_corpus_score():
    refs = ["the cat sat on the mat", "a dog barked twice at night", "rain fell"]
    preds = ["the cat on the mat", "the dog barked at night", "snow fell today"]
    documents = rouge_per_document(refs, preds)
    corpus = rouge_scores(refs, preds)
    for key in ("rouge1", "rougeL", "rougeS_recall"):
        assert sum(d[key] for d in documents) / 3 == pytest.approx(corpus[key])


def test_doc_scores_restores_the_committed_per_paper_scores_and_refuses_other_papers(tmp_path):
    from bench.doc_scores import add_document_scores, main

    committed = read_results(BENCH / "summarize-int4-quality40.json")
    stripped = json.loads(json.dumps(committed))
    for row in stripped["rows"]:
        for entry in row["summaries"]:
            for key in ("rouge1", "rouge2", "rougeL"):
                entry.pop(key)
    path = tmp_path / "summarize-int4-quality40.json"
    path.write_text(json.dumps(stripped))
    assert "added to 3 rows" in add_document_scores(path)
    again = read_results(path)
    for before, after in zip(committed["rows"], again["rows"], strict=True):
        assert [s["rougeL"] for s in after["summaries"]] == pytest.approx(
            [s["rougeL"] for s in before["summaries"]]
        )
    assert add_document_scores(path).endswith("nothing to add")
    # Another paper's summary under this id: the mean no longer matches, nothing is written.
    for row in stripped["rows"]:
        row["summaries"][0]["summary"] = "An unrelated sentence about cooking pasta."
    path.write_text(json.dumps(stripped))
    with pytest.raises(SystemExit):
        main([str(path)])
    assert "rougeL" not in read_results(path)["rows"][0]["summaries"][0]


def test_summarizer_tables_carry_the_interval_of_each_gap_on_the_committed_files(tmp_path):
    from results.report_summarize import summarizer_section

    for name in ("summarize-int4-quality40", "summarize-aclsum-test-lora"):
        shutil.copyfile(BENCH / f"{name}.json", tmp_path / f"{name}.json")
    text = "\n".join(summarizer_section(tmp_path))
    int4 = next(line for line in text.splitlines() if line.startswith("| int4 |"))
    assert "| -0.32 | [-1.00, +0.13] (not distinguishable) |" in int4  # 40 papers
    adapter = next(line for line in text.splitlines() if "lora-r1" in line and "|" in line)
    assert "| +6.21 | [+2.76, +9.74] |" in adapter  # the adapter's gain leaves 0 out
    # LoRA r=1 and NF4 LoRA r=8, paper by paper: 1.3 ROUGE-L apart, not distinguishable
    assert "nf4-lora-r8 full - sum-smollm2-135m-aclsum-lora-r1 full: -1.33 [-3.13, +0.40] " \
           "(not distinguishable)" in text  # fmt: skip


def test_the_e2e_gaps_carry_an_interval_only_with_per_clip_scores():
    from results.report_systems import e2e_section

    def row(system, scores, documents=True):
        docs = [{"id": str(i), "rouge1": s, "rougeL": s / 2, "rougeL_other": s / 2 - 0.01}
                for i, s in enumerate(scores)]  # fmt: skip
        return {"system": system, "clips": len(scores), "audio_minutes": 9.0,
                "rouge1": sum(scores) / len(scores), "rouge2": 0.1,
                "rougeL": sum(scores) / len(scores) / 2,
                "rougeL_other": sum(scores) / len(scores) / 2 - 0.01,
                "rougeLsum": 0.2, "rougeS": 0.1, "embedding_similarity": 0.5,
                "s_per_audio_minute": 3.0, "peak_rss_mb": 900.0, "trained_params": 1,
                **({"documents": docs} if documents else {})}  # fmt: skip

    cascade = [0.40 + 0.02 * (i % 4) for i in range(12)]
    oracle = [s + (0.01 if i % 2 else -0.01) for i, s in enumerate(cascade)]  # a wash
    e2e = [s - 0.2 for s in cascade]
    rows = [row("oracle", oracle), row("cascade", cascade), row("e2e", e2e)]
    text = "\n".join(e2e_section({"meta": {}, "rows": rows}))
    assert "0.0 [-0.5, +0.5] (not distinguishable) ROUGE-1 points" in text  # oracle - cascade
    assert "End-to-end - cascade: -20.0 [-20.0, -20.0] ROUGE-1 points, -10.0 [-10.0, -10.0] " \
           "ROUGE-L points." in text  # fmt: skip
    assert "ROUGE-L, 95% interval of each system's mean over the clips: oracle 21.5 [" in text
    # the control: each summary against the next clip's reference, and own minus other
    assert "(what a summary blind to the speech scores), ROUGE-L: oracle 20.5; " in text
    assert "Own minus other, clip by clip: oracle +1.0 [+1.0, +1.0];" in text
    old = [row(r["system"], [d["rouge1"] for d in r["documents"]], False) for r in rows]
    text = "\n".join(e2e_section({"meta": {}, "rows": old}))
    assert "End-to-end - cascade: -20.0 ROUGE-1 points, -10.0 ROUGE-L points." in text
    assert "No interval on 12 clips: this file predates per-clip scores" in text


def test_the_dashboards_rouge_bars_carry_the_papers_interval():
    from results.charts.compare import summarizer_bench

    rows = read_results(BENCH / "summarize-int4-quality40.json")["rows"]
    _, quality = summarizer_bench(rows).data
    bars = quality.error_y
    assert bars.visible and len(bars.array) == 3
    # 40 papers: each bar's interval holds its mean and spans a few ROUGE-L points
    assert all(0 < low + high < 8 for low, high in zip(bars.arrayminus, bars.array, strict=True))
    no_scores = [{**r, "summaries": [{"id": s["id"], "summary": s["summary"]}
                                     for s in r["summaries"]]} for r in rows]  # fmt: skip
    assert not summarizer_bench(no_scores).data[1].error_y.visible


def test_rouge_vs_rank_draws_error_bars_for_runs_that_kept_their_outputs(tmp_path, write_run):
    from results.charts.training import rouge_vs_rank
    from training.runs import RunWriter

    refs = [f"the paper proposes method {n} for parsing long sentences" for n in range(12)]
    outputs = [r if n % 3 else "a survey of something else" for n, r in enumerate(refs)]
    mean = sum(d["rougeL"] for d in rouge_per_document(refs, outputs)) / len(refs)
    for rank, keep in ((4, True), (8, False)):
        info = {"task": "summarization", "model": "smollm2-135m", "method": "lora",
                "rank": rank, "dataset": "aclsum", "status": "completed"}  # fmt: skip
        line = {"step": 50, "epoch": 2.0, "split": "test", "rougeL": mean}
        folder = write_run(tmp_path, f"sum-r{rank}", info, [line])
        if keep:
            RunWriter(folder).write_predictions("test", 50, refs, outputs)
    from results.runs import list_runs

    (line,) = rouge_vs_rank(list_runs(tmp_path), metric="rougeL", show_reported=False).data
    bars = line.error_y
    assert bars.visible and list(line.x) == [4, 8]
    assert bars.array[0] > 0 and bars.arrayminus[0] > 0  # the r=4 run: its 12 papers' interval
    assert bars.array[1] == 0 == bars.arrayminus[1]  # the r=8 run kept no outputs
