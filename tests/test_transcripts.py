"""Transcripts people can use: segments with times on every path, word times, the no-speech
gate, and the TXT/SRT/WebVTT/JSON files of the CLI checked by a validator against a clip of
real speech whose phrases sit at known times (bench.silence_clips)."""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from bench.silence_clips import known_segments_clip, no_speech_clips
from demo.asr import TranscribeOptions, transcribe
from demo.audio import load_audio
from demo.cli import main
from demo.export import FORMATS, check_subtitles, cues, parse_subtitles, render
from demo.models import ModelSpec, load_model

TOLERANCE_S = 0.5


@pytest.fixture(scope="module")
def tiny_fast():
    return load_model(ModelSpec("asr", "tiny.en", "fast-int8", device="cpu"))


def _result(segments):
    return {"transcript": " ".join(s["text"] for s in segments), "summary": "A speech.",
            "segments": segments, "options": {"asr": "tiny.en"}, "scores": {}}  # fmt: skip


def _edges_ok(spans, clip) -> list[str]:
    """Every edge in silence lies within TOLERANCE_S of a spoken phrase's edge, and every
    piece of speech starts and ends within TOLERANCE_S of some span's edge."""
    problems = []
    for start, end in spans:
        for t, name in ((start, "start"), (end, "end")):
            spoken = any(a <= t <= b for a, b in clip.phrases)
            near = min(abs(t - x) for p in clip.phrases for x in p)
            if not spoken and near > TOLERANCE_S:
                problems.append(f"{name} {t:.2f} is {near:.2f} s from any phrase")
    for a, b in clip.pieces:
        if min(abs(a - s) for s, _ in spans) > TOLERANCE_S:
            problems.append(f"no span starts near {a:.2f}")
        if min(abs(b - e) for _, e in spans) > TOLERANCE_S:
            problems.append(f"no span ends near {b:.2f}")
    return problems


def test_subtitles_keep_to_line_length_durations_and_order():
    long = "word " * 60
    result = _result([
        {"start": 0.0, "end": 20.0, "text": long.strip(), "words": None},
        {"start": 19.5, "end": 19.6, "text": "Overlapping and short.", "words": None},
        {"start": 30.0, "end": 31.0, "text": "Timed words here.", "words": [
            {"start": 30.0, "end": 30.3, "text": " Timed"}, {"start": 30.3, "end": 30.6,
             "text": " words"}, {"start": 30.6, "end": 31.0, "text": " here."}]},
    ])  # fmt: skip
    for fmt in ("srt", "vtt"):
        text = render(result, fmt)
        assert check_subtitles(text, fmt) == []
        parsed = parse_subtitles(text, fmt)
        assert len(parsed) >= 5  # 300 characters over 20 s: several cues
        assert " ".join(" ".join(lines) for _, _, lines in parsed).split().count("word") == 60
    assert cues(result)[-1][:2] == (30.0, 31.0)  # its words' own times


def test_validator_names_what_players_reject():
    bad = (
        "1\n00:00:01,000 --> 00:00:09,000\n"
        + "x" * 50
        + "\n\n2\n00:00:05,000 --> 00:00:06,000\nb\n"
    )
    problems = check_subtitles(bad, "srt")
    assert any("over 42" in p for p in problems)
    assert any("lasts 8.000" in p for p in problems)
    assert any("starts before" in p for p in problems)
    assert check_subtitles("00:00:01.000 --> 00:00:02.000\nhi\n", "vtt") == [
        "a WebVTT file starts with 'WEBVTT'."
    ]


def test_txt_and_json_and_unknown_format():
    result = _result([{"start": 61.5, "end": 63.0, "text": "Hello there.", "words": None}])
    assert "[00:01:01] Hello there." in render(result, "txt")
    assert json.loads(render(result, "json"))["segments"][0]["start"] == 61.5
    with pytest.raises(ValueError, match="srt"):
        render(result, "docx")
    assert set(FORMATS) == {"txt", "srt", "vtt", "json"}


def test_cli_srt_and_vtt_fall_on_the_known_phrase_times(tmp_path, capsys):
    clip = known_segments_clip()
    wav = tmp_path / "known.wav"
    wavfile.write(wav, 16000, (clip.audio * 32767).astype(np.int16))
    for fmt in ("srt", "vtt"):
        out = tmp_path / f"known.{fmt}"
        assert main(["run", str(wav), "--format", fmt, "--out", str(out)]) == 0
        text = out.read_text()
        assert check_subtitles(text, fmt) == []
        spans = [(a, b) for a, b, _ in parse_subtitles(text, fmt)]
        assert _edges_ok(spans, clip) == []
        said = " ".join(" ".join(lines) for _, _, lines in parse_subtitles(text, fmt)).lower()
        assert "fellow americans" in said and said.count("your country") >= 2
    assert main(["run", str(wav), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["segments"] and data["versions"]["python"] and data["options"]["asr"]


def test_app_files_pass_the_validator_and_fall_on_the_known_phrase_times(tmp_path):
    """Try it's handler with the widgets' defaults: the SRT and WebVTT it offers for download
    pass the validator and sit on the known phrases; the transcript's times are seek links."""
    import app
    from dashboard import handlers as h

    clip = known_segments_clip()
    wav = tmp_path / "known.wav"
    wavfile.write(wav, 16000, (clip.audio * 32767).astype(np.int16))
    demo = app.build_demo()
    values = {name: widget.value for name, widget in demo.try_inputs.items()}
    out = h.transcribe_and_summarize({**values, "audio": str(wav)})
    files = {Path(f).suffix[1:]: Path(f) for f in out["downloads"]}
    assert set(files) == {"txt", "srt", "vtt", "json"}
    for fmt in ("srt", "vtt"):
        text = files[fmt].read_text()
        assert check_subtitles(text, fmt) == []
        assert _edges_ok([(a, b) for a, b, _ in parse_subtitles(text, fmt)], clip) == []
    assert out["segments"].count('class="seek"') == len(
        json.loads(files["json"].read_text())["segments"]
    )


def test_word_times_put_every_segment_on_the_speech_in_long_audio(tiny_fast):
    """Over 30 s (chunked) Whisper's own timestamps may put a phrase after the silence that
    follows it; the words' cross-attention alignment puts it back."""
    clip = known_segments_clip((2.0, 6.0, 9.0, 3.0))
    transcript = transcribe(tiny_fast, clip.audio, TranscribeOptions(word_timestamps=True))
    spans = [(s.start, s.end) for s in transcript.segments]
    assert _edges_ok(spans, clip) == []
    words = [w for s in transcript.segments for w in s.words]
    assert len(words) >= 20 and all(
        a.start <= b.start for a, b in zip(words, words[1:], strict=False)
    )


def test_transformers_path_returns_segments(jfk_path):
    loaded = load_model(ModelSpec("asr", "tiny.en", "full", device="cpu"))
    audio = load_audio(str(jfk_path))
    transcript = transcribe(loaded, audio)
    assert len(transcript.segments) >= 2
    assert transcript.segments[0].start < 0.6 and 10.0 < transcript.segments[-1].end <= 11.0
    assert "country" in transcript.segments[-1].text


def test_no_speech_gate_writes_nothing_over_noise(tiny_fast):
    clips = no_speech_clips()
    invented_before = 0
    for name in ("white-noise", "pink-noise", "applause"):
        gated = transcribe(tiny_fast, clips[name])
        assert gated.text == "" and gated.segments == [], name
        assert gated.silent_windows >= 1
        ungated = transcribe(tiny_fast, clips[name], TranscribeOptions(no_speech_gate=False))
        invented_before += len(ungated.text.split())
    assert invented_before > 0  # the gate has something to remove


def test_segments_with_gate_keep_real_speech(tiny_fast, jfk_path, jfk_text):
    audio = load_audio(str(jfk_path))
    padded = np.concatenate([np.zeros(16000 * 3, np.float32), audio])
    transcript = transcribe(tiny_fast, padded)
    assert "fellow americans" in transcript.text.lower()
    assert transcript.segments[0].start >= 3.0


def test_faster_whisper_in_the_bench_returns_segments(jfk_path):
    pytest.importorskip("faster_whisper")
    from bench.engines import EngineSpec, load, transcribe_segments

    loaded = load(EngineSpec("tiny.en", "fw-int8"), threads=1)
    text, segments = transcribe_segments(loaded, load_audio(str(jfk_path)), 1)
    assert len(segments) >= 2 and segments[0][0] < 1.0 and segments[-1][1] <= 11.1
    assert "country" in segments[-1][2] and text.startswith(segments[0][2])
