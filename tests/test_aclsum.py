"""ACLSum: the real scientific-English summarization data read from the ``aclsum`` package.

The training run at the end uses a tiny random T5 (no real summarizer weights exist offline):
it checks that ``--dataset aclsum`` reaches the training loop, never summary quality.
"""

from __future__ import annotations

import importlib.util
import json
import re

import pytest

from demo.errors import DemoError
from training.config import AsrConfig, SummarizerConfig
from training.corpora import aclsum, available_datasets, builtin_rows
from training.data import TEST, TRAIN, VALIDATION, load_splits, text_pairs

# Tokenizer spacing left over; " ." before a digit is a decimal (".816") and " .." an ellipsis.
TOKENIZED = re.compile(r" [,;:?!%)\]]| \.(?![\d.])|[(\[] | n't|\$ ")


@pytest.mark.parametrize(("split", "count"), [("train", 100), ("validation", 50), ("test", 100)])
def test_each_split_has_its_papers_with_all_fields(split, count):
    papers = aclsum.load_papers(split)
    assert len(papers) == count
    assert len({p.id for p in papers}) == count
    for paper in papers:
        assert all(paper.summary[aspect] for aspect in aclsum.ASPECTS)
        assert paper.sentences["abstract"] and paper.sentences["introduction"]
        assert paper.split == split
        for aspect in aclsum.ASPECTS:
            for section in aclsum.SECTIONS:
                labels = paper.highlights[aspect][section]
                assert len(labels) == len(paper.sentences[section])
                assert set(labels) <= {0, 1}
        assert any(1 in paper.highlights["outcome"][s] for s in aclsum.SECTIONS)


def test_splits_share_no_paper():
    ids = {split: {p.id for p in aclsum.load_papers(split)} for split in aclsum.SPLIT_FILES}
    assert not ids["train"] & ids["validation"]
    assert not ids["train"] & ids["test"]
    assert not ids["validation"] & ids["test"]


def test_text_is_detokenized_everywhere():
    for split in aclsum.SPLIT_FILES:
        for paper in aclsum.load_papers(split):
            text = paper.section_text()
            assert not TOKENIZED.search(text), TOKENIZED.search(text)
            assert " ," not in text and "( " not in text


@pytest.mark.parametrize(
    ("tokens", "text"),
    [
        ("In this paper , we explore ( QA ) .", "In this paper, we explore (QA)."),
        ('the question " What did he invent ? " and', 'the question "What did he invent?" and'),
        ("up to 20 % in MRR .", "up to 20% in MRR."),
        ("beats state-ofthe-art ones ( e.g. , CRF ) ;", "beats state-ofthe-art ones (e.g., CRF);"),
        ("Cui et al . 's method", "Cui et al.'s method"),
        ("we have n't found it", "we haven't found it"),
        ("Twitter users ' attributes", "Twitter users' attributes"),
        ("translate ' A because B ' as", "translate 'A because B' as"),
        ("Passage / Sentence Retrieval", "Passage/Sentence Retrieval"),
        ("resolution ( down to 2 - 3 mm )", "resolution (down to 2-3 mm)"),
        ("NP-hard -the authors", "NP-hard -the authors"),
        ("costs $ 25 billion", "costs $25 billion"),
    ],
)  # fmt: skip
def test_detokenize(tokens, text):
    assert aclsum.detokenize(tokens) == text


def test_first_paper_reads_as_normal_text():
    paper = aclsum.load_papers("train")[0]
    assert paper.id == "P06-1112"
    assert paper.sentences["abstract"][0] == (
        "In this paper, we explore correlation of dependency relation paths to rank candidate "
        "answers in answer extraction."
    )
    assert paper.sentences["abstract"][-1].endswith("by up to 20% in MRR.")


def test_demo_task_is_abstract_to_the_three_aspects():
    rows = builtin_rows("aclsum", "validation")
    assert len(rows) == 50
    papers = aclsum.load_papers("validation")
    for row, paper in zip(rows, papers, strict=True):
        assert row["text"] == paper.section_text("abstract")
        assert row["text"].startswith(paper.sentences["abstract"][0])
        assert all(s in row["text"] for s in paper.sentences["abstract"] if len(s) > 3)
        assert not re.search(r" \d$", row["text"])  # a footnote mark left at the end
        assert row["summary"] == " ".join(paper.summary[a] for a in aclsum.ASPECTS)
        assert row["paper"] == paper.id
        assert row["summary"].startswith(paper.summary["challenge"])
        assert row["summary"].endswith(paper.summary["outcome"])


@pytest.mark.parametrize("aspect", aclsum.ASPECTS)
def test_aspect_tasks_map_the_whole_paper_to_one_sentence(aspect):
    rows = builtin_rows(f"aclsum-{aspect}", "test")
    papers = aclsum.load_papers("test")
    assert len(rows) == 100
    for row, paper in zip(rows, papers, strict=True):
        assert row["summary"] == paper.summary[aspect]
        assert row["text"].startswith(paper.sentences["abstract"][0])
        assert row["text"].endswith(paper.sentences["conclusion"][-1])
        assert len(row["text"]) > len(" ".join(paper.sentences["abstract"]))
        assert len(row["summary"].split()) <= 40  # "25 words at most", give or take tokens


def test_registry_lists_the_tasks_and_refuses_unknown_names():
    assert available_datasets() == [
        "aclsum", "aclsum-approach", "aclsum-challenge", "aclsum-outcome"
    ]  # fmt: skip
    with pytest.raises(DemoError, match="aclsum-outcome"):
        builtin_rows("aclsum-results", "train")
    with pytest.raises(DemoError, match="validation"):
        builtin_rows("aclsum", "val")


def test_missing_package_says_how_to_install_it(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "aclsum" else real(name, *a)
    )
    aclsum.load_papers.cache_clear()
    try:
        with pytest.raises(DemoError) as info:
            aclsum.load_papers("train")
    finally:
        aclsum.load_papers.cache_clear()
    message = str(info.value)
    assert "pip install --no-deps aclsum==0.1.2" in message
    assert message.endswith(".") and message.replace("0.1.2", "").count(".") == 1  # one sentence


def test_load_splits_uses_the_builtin_dataset_with_its_test_split():
    splits = load_splits(SummarizerConfig(dataset="aclsum", max_train_samples=10))
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (10, 50, 100)
    assert splits.name == "aclsum" and splits.base_dir is None
    assert set(splits.reports) == {TRAIN, VALIDATION}
    assert splits.test_report.source == "aclsum[test]"
    pairs = text_pairs(
        splits.test, splits.test_report, text_column="text", summary_column="summary", strict=True
    )
    assert len(pairs) == splits.test_report.kept == 100
    train_ids = {row["paper"] for _, row in splits.train}
    assert not train_ids & {row["paper"] for _, row in splits.test}


def test_builtin_text_dataset_refuses_asr_training():
    with pytest.raises(DemoError, match="make_speech_corpus --source aclsum"):
        load_splits(AsrConfig(dataset="aclsum"))


def test_manifest_split_column_exposes_test_rows(tmp_path):
    rows = [{"text": f"t{i}", "summary": "s", "split": s} for i, s in enumerate("ttvxe")]
    rows[3]["split"], rows[4]["split"] = TEST, "other"
    rows[0]["split"] = rows[1]["split"] = TRAIN
    rows[2]["split"] = VALIDATION
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    splits = load_splits(SummarizerConfig(train=str(manifest)))
    assert [row["text"] for _, row in splits.test] == ["t3"]
    assert [len(splits.train), len(splits.validation)] == [2, 1]
    assert splits.test_report.rows == 1


def test_train_summarizer_runs_on_aclsum(tmp_path):
    import torch
    from safetensors import safe_open
    from tiny_models import make_tiny_seq2seq

    from training.train_summarizer import main

    model = make_tiny_seq2seq("t5", tmp_path / "tiny-t5")  # only the family this test needs
    code = main(
        ["--model", str(model), "--output-dir", str(tmp_path / "runs"), "--dataset", "aclsum",
         "--max-steps", "1", "--batch-size", "2", "--max-new-tokens", "4",
         "--max-train-samples", "4", "--max-val-samples", "2", "--max-source-tokens", "64",
         "--max-test-samples", "3", "--no-eval-more-at-start", "--device", "cpu", "--save-fp16"]
    )  # fmt: skip
    assert code == 0
    (run_dir,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    with safe_open(str(run_dir / "adapter" / "adapter_model.safetensors"), "pt") as handle:
        assert {handle.get_tensor(key).dtype for key in handle.keys()} == {torch.float16}
    info = json.loads((run_dir / "run.json").read_text())
    assert info["dataset"] == "aclsum"
    assert info["data"]["train"]["kept"] == 4 and info["data"]["validation"]["kept"] == 2
    assert info["data"]["test"]["kept"] == 3  # the test split, bounded by --max-test-samples
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    # validation before and after training; the test split only after (not at the start)
    assert [(line["step"], line["split"]) for line in lines] == [
        (0, "validation"),
        (1, "validation"),
        (1, "test"),
    ]
    assert lines[-1]["eval_samples"] == 3 and "rouge1" in lines[-1]
