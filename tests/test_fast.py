"""The fast CPU Whisper path (demo.asr.fast) on the real bundled weights: features bit for
bit, exact decoding at fp32, accuracy in fast-int8, long-form, language detection, batches."""

import os

import numpy as np
import pytest
import torch
from loaded_models import cpu_model

from demo.asr import TranscribeOptions, transcribe
from demo.asr.fast import FastWhisper, log_mel, mel_filters_of, to_fast, transcribe_fast
from demo.asr.fast.batched import greedy_batch, log_mel_batch, strip_batch
from demo.audio import SAMPLE_RATE, load_audio
from demo.errors import QuantizationUnavailableError
from demo.metrics import normalize_text, wer
from demo.models import ModelSpec, load_model
from demo.quant import get_quant_mode

MIT_EN_SECONDS = 30.0  # the English part of multilingual.mp3 ends before 30 s


@pytest.fixture(scope="module")
def jfk(jfk_path):
    return load_audio(jfk_path)


tiny_full = cpu_model("tiny_full", "asr", "tiny.en", "full")


tiny_fast = cpu_model("tiny_fast", "asr", "tiny.en", "fast-int8")


def test_log_mel_matches_the_feature_extractor_bit_for_bit(tiny_full, jfk):
    extractor = tiny_full.processor.feature_extractor
    filters = mel_filters_of(tiny_full.processor)
    short = extractor(jfk, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
    assert torch.equal(log_mel(jfk, filters, pad_to_window=True), short)
    long_audio = np.concatenate([jfk] * 3)
    long = extractor(
        long_audio, sampling_rate=SAMPLE_RATE, return_tensors="pt", truncation=False,
        padding="longest",
    ).input_features  # fmt: skip
    assert torch.equal(log_mel(long_audio, filters, pad_to_window=False), long)
    batch = log_mel_batch([jfk, jfk[: SAMPLE_RATE * 3]], filters)
    assert torch.equal(batch[0], short[0])


def test_fast_mode_transcribes_jfk_like_the_standard_path(tiny_full, tiny_fast, jfk, jfk_text):
    standard = transcribe(tiny_full, jfk)
    fast = transcribe(tiny_fast, jfk)
    assert isinstance(tiny_fast.model, FastWhisper)
    assert wer(jfk_text, fast.text) <= 0.10, fast.text
    # Same words; int8 may move a comma ("you, ask" / "you. Ask"), as faster-whisper int8 does.
    assert normalize_text(fast.text) == normalize_text(standard.text)
    assert fast.language == "en" and not fast.language_detected and fast.windows == 1
    assert tiny_fast.weights_mb < tiny_full.weights_mb
    beam = transcribe(tiny_fast, jfk, TranscribeOptions(num_beams=5))
    assert wer(jfk_text, beam.text) <= 0.10, beam.text


def test_fast_loop_at_fp32_decodes_exactly_like_generate(tiny_full, jfk):
    model, processor = tiny_full.model, tiny_full.processor
    features = processor.feature_extractor(jfk, sampling_rate=SAMPLE_RATE, return_tensors="pt")
    with torch.inference_mode():
        # Both decode with timestamp tokens (the segments' times)
        expected = model.generate(input_features=features.input_features, return_timestamps=True)
        expected = expected[0].tolist()
    exact = to_fast(model, encoder="fp32", decoder="fp32")
    result = transcribe_fast(exact, mel_filters_of(processor), jfk)
    eos = model.generation_config.eos_token_id
    assert result.tokens == [t for t in expected if t != eos]


def test_fast_long_form_matches_generate_and_stays_accurate(tiny_full, tiny_fast, jfk, jfk_text):
    audio = np.concatenate([jfk] * 3)  # 33 s: two windows, timestamps decide the seek
    standard = transcribe(tiny_full, audio)
    exact = to_fast(tiny_full.model, encoder="fp32", decoder="fp32")
    result = transcribe_fast(exact, mel_filters_of(tiny_full.processor), audio)
    text = tiny_full.processor.tokenizer.decode(result.tokens, skip_special_tokens=True)
    assert text.strip() == standard.text
    fast = transcribe(tiny_fast, audio)
    assert fast.windows == 2
    assert wer(" ".join([jfk_text] * 3), fast.text) <= 0.10, fast.text


def test_fast_mode_on_base_detects_the_language(multilingual_path, data_dir):
    loaded = load_model(ModelSpec("asr", "base", "fast-int8", device="cpu"))
    audio = load_audio(multilingual_path, max_seconds=None)
    english = transcribe(loaded, audio[: int(MIT_EN_SECONDS * SAMPLE_RATE)])
    reference = (data_dir / "multilingual_en.txt").read_text().strip()
    assert english.language == "en" and english.language_detected
    assert wer(reference, english.text) <= 0.05, english.text
    german = transcribe(loaded, audio[35 * SAMPLE_RATE : 55 * SAMPLE_RATE])
    assert german.language == "de" and german.text


def test_batched_static_decoder_matches_generate_per_clip(tiny_full, jfk, multilingual_path):
    english = load_audio(multilingual_path, max_seconds=None)[: 29 * SAMPLE_RATE]
    processor, model = tiny_full.processor, tiny_full.model
    features = processor.feature_extractor(
        [jfk, english], sampling_rate=SAMPLE_RATE, return_tensors="pt"
    ).input_features
    with torch.inference_mode():
        expected = model.generate(input_features=features)
    exact = to_fast(model, encoder="fp32", decoder="fp32")
    config = exact.generation_config
    prompt = [config.decoder_start_token_id, config.no_timestamps_token_id]
    tokens = greedy_batch(exact, log_mel_batch([jfk, english], mel_filters_of(processor)), prompt)
    eos = config.eos_token_id
    assert strip_batch(tokens, eos) == strip_batch(expected, eos)
    fixed = greedy_batch(exact, features, prompt, max_new_tokens=7, min_new_tokens=7)
    assert fixed.shape == (2, 7) and not (fixed == eos).any()


def test_fast_mode_is_for_whisper_only(tiny_seq2seq):
    """A tiny random BART (no real one exists offline): fast-int8 is refused before loading."""
    with pytest.raises(QuantizationUnavailableError, match="for asr models only"):
        load_model(ModelSpec("summarizer", str(tiny_seq2seq["bart"]), "fast-int8", device="cpu"))
    assert "cuda" not in get_quant_mode("fast-int8").devices


def test_long_audio_is_cut_in_pauses_into_windows_that_cover_the_speech(jfk):
    from demo.asr.fast.chunked import FRAME, frame_db, silent_frames, speech_chunks
    from demo.asr.fast.features import WINDOW_SAMPLES

    pause = np.zeros(SAMPLE_RATE, dtype=np.float32)  # one second of silence between takes
    audio = np.concatenate([jfk, pause, jfk, pause, jfk, pause, jfk])  # 47 s
    chunks = speech_chunks(audio)
    assert len(chunks) >= 2
    assert all(0 < b - a <= WINDOW_SAMPLES for a, b in chunks)
    assert chunks[0][0] == 0 and chunks[-1][1] == len(audio)
    assert all(b == c for (_, b), (c, _) in zip(chunks, chunks[1:], strict=False))  # no gap
    silent = silent_frames(frame_db(audio))
    for _, cut in chunks[:-1]:  # every cut is in silence, never inside a word
        assert silent[cut // FRAME]
    assert speech_chunks(jfk) == [(0, len(jfk))]  # one window: left whole


def test_windows_decoded_together_give_each_window_its_own_tokens(tiny_full, jfk):
    """At fp32, so that only the batching is tested: int8's dynamic activation scales are
    per tensor, and a batch shares them (a token can differ; bench.accuracy measures WER)."""
    from demo.asr.fast.batched import log_mel_batch
    from demo.asr.fast.decoding import decode_windows, prompt_tokens
    from demo.asr.fast.rules import timestamp_rules

    fast = to_fast(tiny_full.model, encoder="fp32", decoder="fp32")
    filters = mel_filters_of(tiny_full.processor)
    clips = [jfk, jfk[: 5 * SAMPLE_RATE]]  # different lengths: one ends long before the other
    prompt = prompt_tokens(fast, None, "transcribe", timestamps=False)
    rules = timestamp_rules(fast, len(prompt), False)
    with torch.inference_mode():
        encoded = fast.encode(log_mel_batch(clips, filters))
        for beams in (1, 3):
            together = decode_windows(fast, encoded, prompt, rules, beams)
            alone = [
                decode_windows(fast, encoded[i : i + 1], prompt, rules, beams)[0] for i in (0, 1)
            ]
            assert together == alone, beams
    assert len(together[1]) < len(together[0])


def test_fast_mode_chunks_long_audio_and_stays_accurate(tiny_full, tiny_fast, jfk, jfk_text):
    pause = np.zeros(SAMPLE_RATE // 2, dtype=np.float32)
    audio = np.concatenate([jfk, pause, jfk, pause, jfk, pause, jfk])  # 45.5 s
    chunked = transcribe(tiny_fast, audio)
    sequential = transcribe(tiny_fast, audio, TranscribeOptions(long_form="sequential"))
    reference = " ".join([jfk_text] * 4)
    assert chunked.windows >= 2 and sequential.windows >= 2
    assert wer(reference, chunked.text) <= wer(reference, sequential.text) + 0.02, chunked.text
    assert wer(reference, chunked.text) <= 0.10
    with pytest.raises(ValueError, match="long_form"):
        TranscribeOptions(long_form="parallel")


def test_block_top_k_matches_torch_topk_wherever_the_winners_are():
    from demo.asr.fast.decoding import top_k

    generator = torch.Generator().manual_seed(0)
    for rows, length in ((1, 5 * 51864), (3, 2 * 51864), (2, 9000), (1, 300)):
        values = torch.randn(rows, length, generator=generator)
        values[0, -3:] = 50.0 + torch.arange(3.0)  # winners in the partial last block
        if rows > 1:
            values[1, :4] = 40.0  # and in the first block, tied there
            values[1, 4] = 41.0
        expected, got = values.topk(10), top_k(values, 10)
        assert torch.equal(expected.values, got[0])
        # Indices agree except among tied values; those must point at the same values.
        assert torch.equal(values.gather(1, got[1]), expected.values)
        assert all(row.unique().numel() == 10 for row in got[1])  # ten distinct positions


def test_threads_follow_what_other_processes_leave_free(tiny_fast, monkeypatch):
    import demo.asr.fast.model as fast_model
    import demo.measure as measure
    from demo.measure import spare_cores

    def leaves(spare):  # what other processes leave free, as both readers see it
        monkeypatch.setattr(fast_model, "spare_cores", lambda: spare)
        monkeypatch.setattr(measure, "spare_cores", lambda: spare)

    fast = tiny_fast.model
    spare = spare_cores()  # this machine's own answer: a count within its CPU set
    assert spare is not None and spare <= len(os.sched_getaffinity(0))
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    monkeypatch.setattr(fast, "decoder_threads", None)
    leaves(2)
    assert fast.decode_threads(1) == 0  # idle: every thread torch has
    assert fast.encode_threads() == 0 and fast.decode_threads(fast.batch_threads_from) == 0
    leaves(1)
    assert fast.decode_threads(5) == 1  # another process holds a core: one thread
    assert fast.encode_threads() == 1  # the encoder too: a shared core stalls every region
    assert fast.decode_threads(fast.batch_threads_from) == 1
    leaves(-1)  # more runnable than cores
    assert fast.encode_threads() == 1
    leaves(None)
    assert fast.decode_threads(1) == 1  # unknown: the safe side
    assert fast.encode_threads() == 0  # a big pass is worth sharing where nothing is known
    assert fast.decode_threads(fast.batch_threads_from) == 0
    monkeypatch.setattr(fast, "decoder_threads", 3)
    assert fast.decode_threads(1) == 3  # a fixed count wins


def test_at_most_threads_caps_inside_and_restores_after():
    from demo.measure import at_most_threads

    before = torch.get_num_threads()
    with at_most_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with at_most_threads(before + 4), at_most_threads(0):  # never raises the count
        assert torch.get_num_threads() == before


def test_free_threads_leave_the_cores_other_processes_hold(monkeypatch):
    import demo.measure as measure

    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    for spare, threads in ((2, 0), (3, 0), (None, 0), (1, 1), (0, 1), (-2, 1)):
        monkeypatch.setattr(measure, "spare_cores", lambda spare=spare: spare)
        assert measure.free_threads() == threads, spare  # 0: all of torch's
