"""The bench's engines in processes of their own (``bench.engines.Isolated``) and the cap on
a run that goes on too long, on the real bundled Whisper weights (faster-whisper's copy).

No test asserts a timing: the machine is shared.
"""

import os

import numpy as np
import pytest

from bench import asr as bench_asr
from demo.audio import SAMPLE_RATE, load_audio


@pytest.fixture(scope="module")
def jfk(jfk_path):
    return load_audio(jfk_path)


def test_isolated_engine_runs_faster_whisper_in_its_own_process_and_times_it(jfk):
    """faster-whisper runs in a spawned process of its own (bench.engines.Isolated): the text
    and the seconds come from there, and this process never loads CTranslate2."""
    from bench.engines import EngineSpec, Isolated

    engine = Isolated(EngineSpec("tiny.en", "fw-int8"), threads=1)
    try:
        assert engine.load_s > 0 and engine.weights_mb is None
        text, seconds = engine.run(jfk, beams=1)
        assert "ask not what your country can do for you" in text.lower()
        assert 0 < seconds < 60
        assert engine._process.pid != os.getpid()
    finally:
        engine.close()
    assert not engine._process.is_alive()


def test_isolated_run_past_its_cap_is_stopped_and_the_engine_loaded_afresh(jfk):
    """A run still going at its cap is killed (whisper.cpp beside a busy process ran for many
    minutes); the engine answers the next run from a fresh process."""
    from bench.engines import EngineSpec, EngineStopped, Isolated

    engine = Isolated(EngineSpec("tiny.en", "fw-int8"), threads=1)
    try:
        first = engine._process
        with pytest.raises(EngineStopped, match="tiny.en fw-int8: stopped after 0 s") as stop:
            engine.run(jfk, beams=1, cap_s=0.001)
        assert stop.value.seconds == 0.001 and not first.is_alive()
        text, _ = engine.run(jfk, beams=1, cap_s=600)
        assert "ask not what your country" in text.lower() and engine._process is not first
    finally:
        engine.close()


def test_bench_clip_caps_peers_at_a_multiple_of_the_baseline_and_marks_them(monkeypatch):
    """The baseline runs first and sets the cap; a peer stopped at it is a row with no text, no
    WER and the cap as its (lower-bound) time; one stopped in a later round keeps its runs."""
    from bench.clips import Clip
    from bench.engines import EngineSpec, EngineStopped

    class Fake:
        def __init__(self, quant, times):
            self.spec, self.times = EngineSpec("tiny.en", quant), list(times)
            self.load_s, self.weights_mb = 1.0, None

    calls = []

    def fake_run(engine, audio, beams, cap_s=None):
        calls.append((engine.spec.quant, cap_s))
        seconds = engine.times.pop(0)
        if cap_s is not None and seconds > cap_s:
            raise EngineStopped("stopped", cap_s)
        return "and so my fellow americans", seconds

    monkeypatch.setattr(bench_asr, "timed_transcribe", fake_run)
    engines = {("tiny.en", q): Fake(q, t) for q, t in [("wcpp-q8_0", [500] * 3),
               ("fast-int8", [1, 1, 1, 1]), ("fw-int8", [4, 2, 2, 2]),
               ("wcpp-q5_0", [5, 3, 99, 3])]}  # fmt: skip
    clip = Clip("jfk", np.zeros(SAMPLE_RATE * 11, np.float32), "and so my fellow americans", "")
    options = bench_asr.BenchOptions(peers=("fw-int8",), repeats=3)
    rows = {r.quant: r for r in bench_asr.bench_clip(engines, clip, 1, 1, options)}
    assert calls[0] == ("fw-int8", None)  # the baseline first, never capped
    assert rows["wcpp-q8_0"].capped and rows["wcpp-q8_0"].latency_s == 40.0  # 10 x 4 s
    assert rows["wcpp-q8_0"].wer is None and rows["wcpp-q8_0"].text == ""
    assert rows["wcpp-q8_0"].runs == 0 and rows["wcpp-q8_0"].ratio_to_fw_int8 == 20.0
    assert rows["wcpp-q5_0"].runs == 1 and not rows["wcpp-q5_0"].capped  # stopped in round 2
    assert rows["wcpp-q5_0"].latency_s == 3 and rows["wcpp-q5_0"].wer == 0.0
    assert rows["fw-int8"].cap_s is None and rows["fast-int8"].cap_s == 40.0
    assert list(rows) == ["wcpp-q8_0", "fast-int8", "fw-int8", "wcpp-q5_0"]  # engines' order


def test_isolated_engine_that_cannot_load_says_which_engine():
    from bench.engines import EngineSpec, Isolated

    with pytest.raises(RuntimeError, match="no-such-model fw-int8: .*no-such-model"):
        Isolated(EngineSpec("no-such-model", "fw-int8"), threads=1)
