"""Benchmark plumbing and the fast CPU path, on the real bundled Whisper weights.

No test asserts a timing: the machine is shared. Speed is what `make bench` reports.
"""

import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from bench import asr as bench_asr
from bench import gpu as bench_gpu
from bench import memory as bench_memory
from demo.audio import SAMPLE_RATE, load_audio
from results import report as bench_report
from results.report_transcripts import click_section

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def jfk(jfk_path):
    return load_audio(jfk_path)


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory):
    """One quick run (one repeat, three engines) written to a temporary folder.

    It runs as the CLI does, in a fresh process: the bench forks its memory-measuring children
    before any model is loaded, and forking this pytest process (whose OpenMP pool earlier
    tests have used) can deadlock the child.
    """
    out = tmp_path_factory.mktemp("bench")
    args = ["--models", "tiny.en", "--modes", "full", "fast-int8", "--peers", "fw-int8",
            "--clips", "jfk", "--beams", "1", "--repeats", "1", "--out", str(out)]  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "bench.asr", *args],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    path = next(out.glob("*.json"))
    return out, path, json.loads(path.read_text())["rows"]


# --------------------------------------------------------------------------- bench.asr


def test_quick_bench_writes_json_and_csv_with_every_field(quick_results):
    out, path, rows = quick_results
    data = json.loads(path.read_text())
    meta = data["meta"]
    assert meta["command"].startswith("python -m bench.asr --models tiny.en")
    assert meta["machine"]["cores"] >= 1 and meta["versions"]["faster-whisper"]
    assert meta["threads"] == torch.get_num_threads()
    assert {r["quant"] for r in data["rows"]} == {"full", "fast-int8", "fw-int8"}
    for row in data["rows"]:
        assert row["kind"] == "asr" and row["clip"] == "jfk" and row["decoding"] == "greedy"
        assert row["load"] == "idle" and "co-load" not in row["config"]
        assert row["runs"] == 1 and len(row["latencies_s"]) == 1
        assert row["rtfx"] == pytest.approx(row["audio_s"] / row["latency_s"])
        assert row["wer"] <= 0.10, row["text"]
        assert row["peak_rss_mb"] > row["rss_before_mb"] > 0
        assert row["load_s"] is not None
    by_quant = {r["quant"]: r for r in data["rows"]}
    assert by_quant["fw-int8"]["ratio_to_fw_int8"] == 1.0
    assert by_quant["fw-int8"]["weights_mb"] is None  # CTranslate2 hides it; never made up
    assert by_quant["fast-int8"]["weights_mb"] < by_quant["full"]["weights_mb"]
    with open(out / "asr-cpu.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 3
    assert {"config", "latency_s", "ratio_to_fw_int8", "wer", "peak_rss_mb"} <= set(table[0])


def test_result_files_record_paths_inside_the_repo_relative_to_it(tmp_path):
    from bench.env import meta
    from demo.provenance import ROOT as REPO

    info = meta("bench.e2e", [], out=str(REPO / "checkpoints" / "bench"), other=str(tmp_path),
                clips="data/x.jsonl", max_clips=8)  # fmt: skip
    assert info["out"] == "checkpoints/bench"  # the same in every clone
    assert info["other"] == str(tmp_path)  # outside the repo: kept whole
    assert info["clips"] == "data/x.jsonl" and info["max_clips"] == 8


def test_quick_flag_selects_tiny_en_jfk_greedy():
    options = bench_asr.parse_args(["--quick"])
    assert options.models == ("tiny.en",)
    assert options.clips == ("jfk",) and options.beams == (1,)
    assert options.out.endswith("quick")
    full = bench_asr.parse_args(["--beams", "1", "5", "--ablation"])
    assert full.beams == (1, 5) and full.ablation and full.clips == bench_asr.DEFAULT_CLIPS
    assert not full.co_load
    busy = bench_asr.parse_args(["--clips", "jfk", "real-10min", "--co-load", "--threads", "2"])
    assert busy.co_load and busy.clips == ("jfk", "real-10min") and busy.threads == 2


def test_co_load_is_a_busy_process_for_the_block_only():
    import psutil

    from bench.coload import co_load

    before = {c.pid for c in psutil.Process().children()}
    with co_load() as what:
        (child,) = [c for c in psutil.Process().children() if c.pid not in before]
        assert "1 thread" in what and child.nice() >= 10  # below the engines
        start, deadline = sum(child.cpu_times()[:2]), time.monotonic() + 20
        while sum(child.cpu_times()[:2]) - start < 0.2 and time.monotonic() < deadline:
            time.sleep(0.2)  # at nice 10 on a busy 2-core machine it gets a small share
        assert sum(child.cpu_times()[:2]) - start >= 0.2  # it computes
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE


def test_cpu_modes_drop_aliases_and_include_the_fast_path():
    modes = bench_asr.cpu_modes()
    assert "full" in modes and "fast-int8" in modes and "dynamic-int8" in modes
    assert "fp32" not in modes  # fp32 is full on a CPU
    assert "fp16" not in modes  # GPU only


def test_bench_options_keep_the_baseline():
    with pytest.raises(ValueError, match="baseline"):
        bench_asr.BenchOptions(peers=("fw-fp32",))


@pytest.mark.parametrize(
    ("module", "argv", "message"),
    [
        ("bench.asr", ["--beams", "0"], "beams must be at least 1."),
        ("bench.asr", ["--clips", "nope"], "invalid choice: 'nope'"),
        ("bench.summarize", ["--timing-docs", "0"], "timing_docs must be at least 1"),
        ("bench.latent", ["--models", "nope"], "Unknown models"),
        ("bench.click", ["--seconds", "0"], "seconds must be between 1 and 300"),
        ("bench.lowrank_probe", ["--splits", "fc1"], "give target:rank pairs"),
    ],
)
def test_bench_commands_refuse_bad_flags_in_one_line(module, argv, message, capsys):
    import importlib

    with pytest.raises(SystemExit) as exit_info:
        importlib.import_module(module).main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err  # one line, no usage above


def test_bench_e2e_missing_clips_file_is_one_line(tmp_path, capsys):
    from bench import e2e

    with pytest.raises(SystemExit) as exit_info:
        e2e.main(["--clips", str(tmp_path / "none.jsonl"), "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert (
        err.strip() == f"error: No clips file {tmp_path / 'none.jsonl'}; make one with "
        "training.make_speech_corpus."
    )
    assert not list(tmp_path.iterdir())  # nothing written


def test_bench_e2e_scores_each_summary_against_another_clips_reference_too():
    """The control of a summary blind to the speech: the same summaries against the next clip's
    reference. Real ROUGE on hand-written text: a summary copied from its own reference scores
    1 against it and less against the next clip's."""
    from bench.e2e import OTHER, Row, keep_other_scores

    references = ["speech models transcribe meetings", "a parser for legal text",
                  "graphs of citations between papers"]  # fmt: skip
    documents = [{"id": str(i), "summary": r} for i, r in enumerate(references)]
    row = Row("e2e · 3 clips", "e2e", "e2e", 3, 1.0, *(0.0,) * 6, 1.0, 1.0, 0, None, "",
              documents=documents)  # fmt: skip
    keep_other_scores(row, references)
    assert all(d[OTHER] < 0.5 for d in row.documents)
    assert row.rougeL_other == pytest.approx(sum(d[OTHER] for d in row.documents) / 3, abs=1e-4)
    keep_other_scores(row, [references[0]] * 3)  # every clip's reference the same: no control
    assert [d[OTHER] for d in row.documents][0] == 1.0


def test_report_is_built_from_result_files(quick_results, tmp_path):
    out, _, _ = quick_results
    report = bench_report.build(out, tmp_path / "benchmarks.md", images=False)
    text = report.read_text()
    assert "python -m bench.asr --models tiny.en" in text  # the command that made the file
    assert "| **fast-int8** |" in text and "fw-int8" in text
    assert "GPU throughput" in text


def test_click_bench_times_first_use_and_a_clip_in_fresh_processes(tmp_path):
    from bench import click as bench_click

    argv = ["--models", "tiny.en", "--summarizers", "extractive", "--seconds", "8",
            "--repeats", "1", "--out", str(tmp_path)]  # fmt: skip
    assert bench_click.main(argv) == 0
    data = json.loads((tmp_path / "click.json").read_text())
    first = {r["model"]: r for r in data["rows"] if r["kind"] == "first-use"}
    assert set(first) == {"tiny.en", "extractive"}
    assert all(r["import_s"] > 0 and r["first_s"] > 0 and r["warm_s"] > 0 for r in first.values())
    (click,) = [r for r in data["rows"] if r["kind"] == "click"]
    assert click["audio_s"] == 8.0 and click["quant"] == "fast-int8"
    # in memory, a click is its stages and no load
    assert 0 < click["asr_s"] <= click["warm_s"] < click["first_s"]
    text = "\n".join(click_section(data))
    assert "What a click costs" in text and "| tiny.en | fast-int8 | extractive |" in text
    # The Training view reads the file without a warning (it skips rows without a config).
    from results.bench_files import load_bench

    (tmp_path / "bench").mkdir()
    (tmp_path / "click.json").rename(tmp_path / "bench" / "click.json")
    rows, warnings = load_bench(tmp_path)
    assert warnings == [] and len(rows) == 3
    assert click["config"] == "tiny.en (fast-int8) + extractive"


# --------------------------------------------------------------------------- bench.memory


def test_memory_of_the_tiny_architecture_shrinks_with_precision(tmp_path):
    bench_memory.save_random_checkpoint("tiny", tmp_path)
    fp32 = bench_memory.measure_precision(tmp_path, "fp32", "float32")
    fp16 = bench_memory.measure_precision(tmp_path, "fp16", "float16")
    nf4 = bench_memory.measure_precision(tmp_path, "nf4", "float16")
    assert nf4["weights_mb"] < fp16["weights_mb"] < fp32["weights_mb"]
    assert fp32["weights_mb"] == pytest.approx(2 * fp16["weights_mb"], rel=0.01)
    # What stays unquantized: the tied token embedding above all (51865 x 384 fp16 = 38 MiB).
    assert "token embedding (tied proj_out)" in nf4["unquantized_parts"]
    assert nf4["unquantized_mb"] > 38


def test_trainable_share_under_lora_and_adalora():
    result = bench_memory.trainable("tiny")
    assert result["lora_r"] == 8 and result["adalora_init_r"] == 12
    assert 0 < result["lora_pct"] < result["adalora_pct"] < 5
    assert result["adalora_budget_pct"] == pytest.approx(result["adalora_pct"] * 8 / 12)


# --------------------------------------------------------------------------- bench.gpu


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without a GPU")
def test_gpu_bench_refuses_cleanly_without_cuda(tmp_path, capsys):
    assert bench_gpu.main(["--out", str(tmp_path)]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_gpu_bench_cpu_safe_parts(tmp_path, jfk):
    assert bench_gpu.rtfx(60.0, 0.5) == 120.0
    windows = bench_gpu.tile_windows(jfk, 4)
    assert len(windows) == 4 and all(len(w) == 30 * SAMPLE_RATE for w in windows)
    with pytest.raises(ValueError, match="paths"):
        bench_gpu.GpuOptions(paths=("warp",))
    written = bench_gpu.export_audio(tmp_path)
    audio = bench_gpu.load_audio_set(str(tmp_path))
    assert [p.name for p in written] == ["jfk.npy", "long.npy"]
    assert np.array_equal(audio["jfk"][0], jfk)
    assert len(audio["long"][0]) > 60 * SAMPLE_RATE


@pytest.mark.requires_cuda
def test_gpu_bench_runs_tiny_en_on_cuda(tmp_path):
    options = bench_gpu.GpuOptions(models=("tiny.en",), batches=(2,), repeats=1, out=str(tmp_path))
    _, rows = bench_gpu.run(options)
    assert rows and all(r["error"] is None for r in rows), rows
    assert all(r["wer"] <= 0.10 for r in rows if r["workload"] == "jfk")


def test_accuracy_verdict_pools_words_and_allows_one_word_on_a_clip(tmp_path):
    from bench import accuracy
    from results import report_accuracy

    def row(mode, clip, wer, words):
        return {"config": f"tiny.en {mode} · {clip}", "model": "tiny.en", "quant": mode,
                "clip": clip, "wer": wer, "reference_words": words, "gap_points": 0.0}  # fmt: skip

    rows = [
        row("full", "short", 0.10, 100), row("full", "long", 0.10, 900),
        row("one-word", "short", 0.11, 100), row("one-word", "long", 0.09, 900),
        row("two-words", "short", 0.12, 100), row("two-words", "long", 0.10, 900),
        row("drifts", "short", 0.10, 100), row("drifts", "long", 0.11, 900),
    ]  # fmt: skip
    by_mode = {v["quant"]: v for v in accuracy.verdicts(rows)}
    assert by_mode["full"]["may_be_default"] and by_mode["full"]["pooled_gap_points"] == 0
    one = by_mode["one-word"]  # +1 word on one clip, -9 on the other: pooled better
    assert one["may_be_default"] and one["worst_clip_words_lost"] == 1.0
    assert one["pooled_gap_points"] == pytest.approx(-0.8)
    assert not by_mode["two-words"]["may_be_default"]  # 2 words lost on one clip
    assert by_mode["drifts"]["pooled_gap_points"] == pytest.approx(0.9)
    assert not by_mode["drifts"]["may_be_default"]  # pooled gap over 0.5 points

    meta = {"command": "python -m bench.accuracy", "max_gap_points": 0.5, "max_clip_words": 1,
            "verdicts": list(by_mode.values())}  # fmt: skip
    lines = report_accuracy.accuracy_section({"meta": meta, "rows": rows})
    text = "\n".join(lines)
    assert "| tiny.en one-word | 11.00 (+0.0) | 9.00 (+0.0) | 9.20 | -0.80 | yes |" in text
    assert "| tiny.en two-words |" in text and text.count("| no |") == 2
    # The real-speech section: the same verdicts in words (errors = pooled WER x words).
    text = "\n".join(report_accuracy.real_speech_section({"meta": meta, "rows": rows}))
    # 1,000 words are too few for the pooled rule alone; two clips too few for an interval
    # (demo.intervals.MIN_ITEMS: tests/test_intervals.py has one over 20 clips).
    assert "| tiny.en one-word | 2 | 1,000 | 9.20 | 92 | -0.80 | – | – | +1 | no | yes |" in text
    drifts = "| tiny.en drifts | 2 | 1,000 | 10.90 | 109 | +0.90 | – | – | +9 | no"
    assert drifts in text
    many = [{**r, "reference_words": 4 * r["reference_words"]} for r in rows]
    pooled = {v["quant"]: v["meets_pooled_rule"] for v in accuracy.verdicts(many)}
    assert pooled == {"full": True, "one-word": True, "two-words": True, "drifts": False}


def test_accuracy_on_a_manifest_against_faster_whisper(tmp_path, jfk_path, jfk_text):
    """bench.accuracy --manifest scores a corpus's clips (real tiny.en, both engines) and
    measures every gap against --baseline; the report pools them in words and points."""
    import shutil

    from bench import accuracy
    from bench.env import read_results
    from results import report_accuracy

    corpus = tmp_path / "corpus"
    (corpus / "clips").mkdir(parents=True)
    lines = []
    for name in ("a", "b"):
        shutil.copyfile(jfk_path, corpus / "clips" / f"{name}.flac")
        lines.append(json.dumps({"audio": f"clips/{name}.flac", "split": "test",
                                 "text": jfk_text}))  # fmt: skip
    lines.append(json.dumps({"audio": "clips/a.flac", "split": "train", "text": "x"}))
    (corpus / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    argv = ["--models", "tiny.en", "--manifest", str(corpus / "manifest.jsonl"),
            "--modes", "fw-int8", "fast-int8", "--baseline", "fw-int8",
            "--out", str(tmp_path), "--name", "accuracy-talks-greedy"]  # fmt: skip
    accuracy.main(argv)
    data = read_results(tmp_path / "accuracy-talks-greedy.json")
    rows = data["rows"]
    assert {r["clip"] for r in rows} == {"a", "b"} and len(rows) == 4  # the test split only
    assert all(r["wer"] == 0.0 and r["gap_points"] == 0.0 for r in rows)
    verdicts = {v["quant"]: v for v in data["meta"]["verdicts"]}
    assert verdicts["fast-int8"]["words"] == 2 * 22 and verdicts["fast-int8"]["clips"] == 2
    assert verdicts["fast-int8"]["may_be_default"] is None  # that rule is against full only
    assert "points vs fw-int8" in accuracy.format_table(rows)
    text = "\n".join(report_accuracy.corpus_accuracy_section([data]))
    assert "| tiny.en fast-int8 | greedy | 2 | 44 | 0.00 | 0 | +0 | +0.00 | – | 0 | 0.00 |" in text
    with pytest.raises(ValueError, match="baseline 'full' must be one of --modes"):
        accuracy.AccuracyOptions(modes=("fast-int8",))


def test_accuracy_resume_rescores_saved_transcripts_without_loading_a_model(tmp_path, capsys):
    """--resume takes the model/mode pairs a run saved as each ended (no model loads: the
    transcript is a fake one that tiny.en never gives) and scores them against the current
    reference; pairs not asked for are not in the result, and stay saved for a later run."""
    from bench import accuracy
    from bench.clips import JFK_TEXT
    from bench.env import read_results
    from demo.provenance import write_json_atomic

    said = "And so my fellow Americans ask not what your country can do"  # 10 of 22 words lost
    saved = [{"model": "tiny.en", "quant": mode, "clip": "jfk", "text": said}
             for mode in ("full", "fast-int8")]  # fmt: skip
    partial = tmp_path / f"acc{accuracy.PARTIAL}"
    write_json_atomic(partial, {"clips": ["jfk"], "beams": 1, "rows": saved})
    argv = ["--models", "tiny.en", "--clips", "jfk", "--modes", "full", "--resume",
            "--out", str(tmp_path), "--name", "acc", "--overwrite"]  # fmt: skip
    accuracy.main(argv)
    rows = read_results(tmp_path / "acc.json")["rows"]
    assert [(r["quant"], r["text"]) for r in rows] == [("full", said)]
    assert rows[0]["reference_words"] == len(JFK_TEXT.split()) == 22
    assert rows[0]["wer"] == pytest.approx(10 / 22)
    kept = read_results(partial)["rows"]
    assert [r["quant"] for r in kept] == ["full", "fast-int8"]  # fast-int8 was not asked for
    # Saved once more (an older run's file held a pair twice): each clip still counts once.
    write_json_atomic(partial, {"clips": ["jfk"], "beams": 1, "rows": saved + saved[:1]})
    accuracy.main(argv)
    assert len(read_results(tmp_path / "acc.json")["rows"]) == 1
    # --saved-only writes the saved pairs asked for (here both), decoding nothing ...
    accuracy.main([*argv[:5], "full", "fast-int8", "dynamic-int8", *argv[6:], "--saved-only"])
    assert {r["quant"] for r in read_results(tmp_path / "acc.json")["rows"]} == {
        "full",
        "fast-int8",
    }
    # ... and refuses, in one line, to measure gaps without the baseline.
    write_json_atomic(partial, {"clips": ["jfk"], "beams": 1, "rows": saved[1:]})
    with pytest.raises(SystemExit):
        accuracy.main([*argv, "--saved-only"])
    assert "holds no full rows" in capsys.readouterr().err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_freed_heap_pages_go_back_to_the_system():
    """Chunks freed between live ones stay resident until ``release_freed_memory`` trims them
    (the server's growth over a soak of model reloads)."""
    from demo.measure import process_rss_mb, release_freed_memory

    chunks = [bytearray(64 * 1024) for _ in range(2000)]  # 125 MiB on the heap, under mmap size
    kept = chunks[::10]
    del chunks
    freed = process_rss_mb()
    release_freed_memory(collect=False)
    assert process_rss_mb() < freed - 60, "the freed 112 MiB stayed resident"
    assert len(kept) == 200


# --------------------------------------------------------------------------- bench.lowrank


def test_lowrank_bench_counts_and_times_a_factorization_the_dashboard_reads(tmp_path):
    from bench import lowrank as bench_lowrank
    from results.bench_files import load_bench

    out = tmp_path / "bench"
    argv = ["--sizes", "tiny.en", "--fractions", "0.25", "--parts", "params", "time",
            "--time-fraction", "0.25", "--repeats", "1", "--out", str(out)]  # fmt: skip
    bench_lowrank.main(argv)
    rows, warnings = load_bench(tmp_path)
    assert warnings == []
    params = {r["config"]: r for r in rows if r["part"] == "params"}
    times = [r for r in rows if r["part"] == "time"]
    assert len(params) == len([r for r in rows if r["part"] == "params"])  # one name per row
    assert {r["quant"] for r in times} == {"fp32", "dynamic-int8"}
    assert all(r["original_s"] > 0 and r["factorized_s"] > 0 and r["ratio"] > 0 for r in times)
    assert all(r["config"].startswith("tiny.en time ") for r in times)
