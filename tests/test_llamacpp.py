"""bench.llamacpp: llama.cpp as a summarizer peer (bench-only, ``make bench-peers``): refused in
one line without llama-cpp-python; with it, the bundled SmolLM2 GGUF summarizes as ours does."""

import sys

import pytest

from bench import summarize

TEXT = (
    "The committee met on Monday to review the budget. Maria presented the figures for the "
    "second quarter and proposed moving two engineers to the data team. The committee agreed "
    "and asked Tom to send the revised plan by Friday."
)


def test_summarize_bench_without_llama_cpp_says_make_bench_peers(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import fails as if not installed
    argv = ["--peers", "llama.cpp", "--modes", "full", "--limit", "1", "--out", str(tmp_path)]
    with pytest.raises(SystemExit) as exit_info:
        summarize.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "make bench-peers" in err and len(err.splitlines()) == 1, err
    assert not list(tmp_path.iterdir())  # refused before measuring anything


def test_summarize_bench_refuses_an_unknown_peer(capsys):
    with pytest.raises(SystemExit):
        summarize.main(["--peers", "vllm"])
    assert "Unknown peers ['vllm']; pick from llama.cpp." in capsys.readouterr().err


def test_llama_cpp_summarizes_with_our_prompt_and_rules():
    pytest.importorskip("llama_cpp", reason="bench-only: make bench-peers builds it")
    from bench import llamacpp
    from demo.summarize import SummaryOptions
    from demo.summarize.llm import max_new_tokens

    loaded = llamacpp.load("smollm2-135m", threads=1)
    options = SummaryOptions(max_sentences=2)
    out = llamacpp.summarize(loaded, TEXT, options)
    assert out["summary"] and len(out["summary"].split()) <= 60, out
    assert 0 < out["tokens"] <= max_new_tokens(options)
    assert out["prefill"] > 0 and out["decode"] >= 0 and out["prompt_tokens"] > 50
    words = {w.strip(".,").lower() for w in out["summary"].split()}
    assert words & {"committee", "budget", "maria", "tom", "engineers"}, out["summary"]
