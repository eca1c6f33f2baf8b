"""The spoken dev set's build and bench.spoken_dev end to end on three documents (espeak-ng
audio, real tiny.en, real MiniLM), its report section and dashboard chart."""

import json

import pytest

from bench import spoken_dev
from bench.env import OVERWRITE
from results.bench_files import load_bench
from results.charts.faithfulness import faithfulness_bench
from results.report_summarize import spoken_dev_section
from training.corpora.spoken_dev import build, main


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    return build(tmp_path_factory.mktemp("spoken-dev"), limit=3)


def test_build_writes_clips_manifest_and_card(manifest):
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert len(rows) == 3 and all((manifest.parent / r["audio"]).is_file() for r in rows)
    assert {r["voice"] for r in rows} == {"en-us", "en-gb"}
    assert all(r["facts"] and r["summary"] and r["seconds"] > 5 for r in rows)
    card = json.loads((manifest.parent / "corpus.json").read_text())
    assert card["documents"] == 3 and card["minutes"] > 0


def test_bad_build_flags_are_one_line(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "x"), "--voices", ","]) == 2
    assert main(["--out", str(tmp_path / "x"), "--speed", "5"]) == 2
    (tmp_path / "file").write_text("x")
    assert main(["--out", str(tmp_path / "file")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 3 and all(e.startswith("error: ") for e in errors)


def test_bench_scores_resumes_and_reports(manifest, tmp_path):
    argv = ["--manifest", str(manifest), "--summarizers", "extractive", "extractive+speech",
            "--styles", "prose", "--adapters", "none",
            "--out", str(tmp_path / "bench")]  # fmt: skip
    options = spoken_dev.parse_args(argv)
    path, rows = spoken_dev.run(options, argv)
    assert [r["config"] for r in rows] == ["extractive (prose)", "extractive+speech (prose)"]
    for row in rows:
        low, high = row["key_fact_recall_ci"]
        assert 0 <= low <= row["key_fact_recall"] <= high <= 1 and row["documents"] == 3
        assert row["docs_with_unsupported"] == 0  # extraction states only what was said
        assert row["click_s_per_min"] > 0
    data = json.loads(path.read_text())
    assert data["auto"] == spoken_dev.choose_auto(rows, options.click_budget_s)
    partial = path.parent / "summarize-spoken-dev.partial.jsonl"
    lines = partial.read_text().count("\n")
    OVERWRITE.set(True)  # what --overwrite sets (the result file exists now)
    spoken_dev.run(options, argv)  # everything done: nothing is summarized again
    assert partial.read_text().count("\n") == lines
    section = "\n".join(spoken_dev_section(path.parent))
    assert "extractive+speech (prose)" in section and "auto` runs" in section
    bench_rows, warnings = load_bench(tmp_path)
    assert not warnings and len(bench_rows) == 2
    figure = faithfulness_bench(bench_rows)
    assert len(figure.data[0].y) == 2 and "spoken dev set" in figure.layout.title.text


def test_missing_manifest_names_the_build_command(tmp_path):
    options = spoken_dev.parse_args(["--manifest", str(tmp_path / "none.jsonl")])
    with pytest.raises(Exception, match="training.corpora.spoken_dev"):
        spoken_dev.run(options, [])
