"""The fast engine's token rules and how it saves decoding steps (demo.asr.fast.rules,
demo.asr.fast.decoding): the timestamp rules mask what transformers' processor masks, a
segment's closing timestamp and its partner cost one step and change nothing, and a window
Whisper would end while speech remains is decoded on. Real tiny.en weights."""

import math

import pytest
import torch
from loaded_models import cpu_model
from transformers.generation.logits_process import WhisperTimeStampLogitsProcessor

import demo.asr.fast.decoding as decoding
import demo.asr.fast.rules as rules
from demo.asr.fast import mel_filters_of, transcribe_fast
from demo.audio import SAMPLE_RATE, load_audio

tiny_fast = cpu_model("tiny_fast", "asr", "tiny.en", "fast-int8")


@pytest.fixture(scope="module")
def mit_en(multilingual_path):
    return load_audio(multilingual_path, max_seconds=None)[: 30 * SAMPLE_RATE]


def _histories(begin: int) -> list[list[int]]:
    """Token histories after a 1-token prompt, one per state the rules tell apart."""
    sot, text = 50257, [400, 401, 402]
    return [
        [sot],  # nothing written: a timestamp first, at most max_initial
        [sot, begin + 3],  # one timestamp opened a segment
        [sot, begin + 3, *text],  # text after it
        [sot, begin + 3, *text, begin + 40],  # a closing timestamp: partner or end
        [sot, begin + 3, *text, begin + 40, begin + 40],  # a pair: text next, no going back
        [sot, begin + 3, *text, begin + 40, begin + 40, *text],
    ]


def test_timestamp_rule_masks_what_transformers_masks(tiny_fast):
    config = tiny_fast.model.generation_config
    vocab = tiny_fast.model.config.vocab_size
    ours = rules.TimestampRule(config, begin_index=1)
    begin = ours.begin
    theirs = WhisperTimeStampLogitsProcessor(config, begin_index=1)
    generator = torch.Generator().manual_seed(0)
    for history in _histories(begin):
        tokens = torch.tensor([history] * 3)
        scores = torch.randn(3, vocab, generator=generator) * 3
        scores[1, begin:] += 8.0  # timestamps likelier together than any text token
        scores[2, :begin] = -math.inf  # only timestamps left
        expected = theirs(tokens, scores.clone())
        got = ours(tokens, scores.clone())
        assert torch.equal(torch.isinf(got), torch.isinf(expected)), history
        assert torch.equal(got[~torch.isinf(got)], expected[~torch.isinf(expected)])


def test_rows_with_different_histories_are_masked_each_as_alone(tiny_fast):
    config = tiny_fast.model.generation_config
    rule = rules.TimestampRule(config, begin_index=1)
    histories = _histories(rule.begin)[1:5]  # same length after padding with text
    width = max(map(len, histories))
    padded = [h[:1] + [400] * (width - len(h)) + h[1:] for h in histories]
    scores = torch.randn(len(padded), tiny_fast.model.config.vocab_size)
    together = rule(torch.tensor(padded), scores.clone())
    for row, history in enumerate(padded):
        alone = rule(torch.tensor([history]), scores[row : row + 1].clone())
        assert torch.equal(together[row : row + 1], alone)


def _decode_steps(fast, monkeypatch) -> list[int]:
    calls = []
    original = fast.decode

    def counted(*args, **kwargs):
        calls.append(args[0].shape[1])
        return original(*args, **kwargs)

    monkeypatch.setattr(fast, "decode", counted)
    return calls


def test_segment_timestamps_in_pairs_cost_one_step_and_decode_the_same(
    tiny_fast, mit_en, monkeypatch
):
    fast, filters = tiny_fast.model, mel_filters_of(tiny_fast.processor)
    calls = _decode_steps(fast, monkeypatch)
    paired = transcribe_fast(fast, filters, mit_en)
    paired_steps = len(calls)
    calls.clear()
    monkeypatch.setattr(decoding, "_closes", lambda *args: False)
    alone = transcribe_fast(fast, filters, mit_en)
    begin = rules.TimestampRule(fast.generation_config, 1).begin
    steps = zip(alone.tokens[:-1], alone.tokens[1:], strict=True)
    pairs = sum(1 for a, b in steps if a == b >= begin)
    assert pairs >= 3  # the clip has several segments
    assert paired.tokens == alone.tokens
    assert paired_steps <= len(calls) - pairs


def test_a_window_whisper_ends_early_is_decoded_on_to_the_last_words(
    tiny_fast, mit_en, monkeypatch
):
    """mit-en: tiny.en closes its last segment at about 27 s and ends, while the reading
    goes on to "...substantial portions of the software." at 31 s."""
    fast, filters = tiny_fast.model, mel_filters_of(tiny_fast.processor)
    tokenizer = tiny_fast.processor.tokenizer
    full = tokenizer.decode(transcribe_fast(fast, filters, mit_en).tokens, skip_special_tokens=True)
    assert full.rstrip().endswith("substantial portions of the software.")
    monkeypatch.setattr(rules, "eos_floor", lambda config, until: 0)
    cut = transcribe_fast(fast, filters, mit_en)
    assert "substantial portions" not in tokenizer.decode(cut.tokens, skip_special_tokens=True)
