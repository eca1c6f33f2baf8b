"""Real Whisper weights (bundled tiny.en and base) on real speech, in every CPU mode."""

import shutil

import numpy as np
import pytest

from demo.asr import TranscribeOptions, transcribe
from demo.asr.registry import WHISPER_MODELS, bundled_source
from demo.asr.transcribe import detect_language, features_for
from demo.audio import SAMPLE_RATE, load_audio, write_wav
from demo.metrics import wer
from demo.models import ModelSpec, load_model
from demo.quant import QUANT_MODES

CPU_MODES = [n for n, m in QUANT_MODES.items() if "cpu" in m.devices and "asr" in m.kinds]
ENGLISH_PART_SECONDS = 31.0  # multilingual.mp3: English 0-31 s, then German (checked by ear)
# Measured: base full 0.012, dynamic-int8 0.012, nf4 0.024 normalized WER on the English part.
# The miss is "shall" heard as "." plus nf4 repeating "notice"; 0.05 leaves room for int8 noise
# and still fails if the language, the window seek or the conversion breaks (those give > 0.3).
BASE_ENGLISH_WER_BOUND = 0.05


@pytest.fixture(scope="module")
def jfk(jfk_path):
    return load_audio(jfk_path)


@pytest.fixture(scope="module")
def english_part(multilingual_path):
    return load_audio(multilingual_path)[: int(ENGLISH_PART_SECONDS * SAMPLE_RATE)]


@pytest.fixture(scope="module")
def english_reference(data_dir):
    return (data_dir / "multilingual_en.txt").read_text().strip()


@pytest.mark.parametrize("quant", CPU_MODES)
def test_tiny_en_jfk_every_cpu_mode(jfk, quant, jfk_text):
    loaded = load_model(ModelSpec("asr", "tiny.en", quant, device="cpu"))
    result = transcribe(loaded, jfk)
    assert wer(jfk_text, result.text) <= 0.10, result.text
    assert result.language == "en" and not result.language_detected
    assert loaded.weights_mb > 0


def test_quantized_weights_are_smaller(jfk):
    sizes = {
        q: load_model(ModelSpec("asr", "tiny.en", q, device="cpu")).weights_mb
        for q in ("full", "int8", "nf4")
    }
    # DESIGN.md measured 151 / 101 / 93 MB (get_memory_footprint, decimal MB).
    assert sizes["nf4"] < sizes["int8"] < sizes["full"]
    assert 130 < sizes["full"] < 150


def test_base_detects_english_and_transcribes_english_part(english_part, english_reference):
    loaded = load_model(ModelSpec("asr", "base", "full", device="cpu"))
    result = transcribe(loaded, english_part)
    assert result.language == "en" and result.language_detected
    assert result.language_name == "english"
    assert result.windows == 2  # 31 s: the long-form path, not cut at 30 s
    assert wer(english_reference, result.text) <= BASE_ENGLISH_WER_BOUND, result.text


def test_base_german_part_is_detected_as_german(multilingual_path):
    german = load_audio(multilingual_path)[int(35 * SAMPLE_RATE) : int(55 * SAMPLE_RATE)]
    loaded = load_model(ModelSpec("asr", "base", "full", device="cpu"))
    features, _ = features_for(loaded.processor, german)
    assert detect_language(loaded.model, features.input_features) == "de"


def test_english_only_model_refuses_other_language(jfk):
    loaded = load_model(ModelSpec("asr", "tiny.en", "full", device="cpu"))
    with pytest.raises(Exception, match="English-only"):
        transcribe(loaded, jfk, TranscribeOptions(language="de"))


def test_long_form_transcribes_past_30_seconds(jfk, tmp_path, jfk_text):
    gap = np.zeros(SAMPLE_RATE, dtype=np.float32)
    long_clip = np.concatenate([np.concatenate([jfk, gap]) for _ in range(6)])  # ~72 s
    path = write_wav(tmp_path / "jfk_x6.wav", long_clip)
    audio = load_audio(path)
    assert len(audio) / SAMPLE_RATE > 60
    loaded = load_model(ModelSpec("asr", "tiny.en", "full", device="cpu"))
    result = transcribe(loaded, audio)
    assert result.windows == 3
    assert result.text.lower().count("ask not what your country") >= 5, result.text
    assert wer(" ".join([jfk_text] * 6), result.text) <= 0.15


def _ct2_dir(name, tmp_path):
    """A CTranslate2 model dir for a bundle (the base model's two parts joined)."""
    source, parts = bundled_source(WHISPER_MODELS[name].bundled)
    if len(parts) == 1:
        return source
    target = tmp_path / name
    target.mkdir()
    with open(target / "model.bin", "wb") as out:
        for part in parts:
            out.write(part.read_bytes())
    for f in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copy(source / f, target / f)
    return target


@pytest.mark.parametrize("name", ["tiny.en", "base"])
def test_converter_parity_with_ctranslate2(jfk, tmp_path, name, jfk_text):
    """Same weights, same features, same prompt: greedy tokens must be identical."""
    ctranslate2 = pytest.importorskip("ctranslate2")
    loaded = load_model(ModelSpec("asr", name, "fp32", device="cpu"))
    features, _ = features_for(loaded.processor, jfk)
    gen = loaded.model.generation_config
    prompt = [gen.decoder_start_token_id]
    if gen.is_multilingual:
        prompt += [gen.lang_to_id["<|en|>"], gen.task_to_id["transcribe"]]
    # no <|notimestamps|>: both decode with timestamp tokens (the segments' times)
    engine = ctranslate2.models.Whisper(str(_ct2_dir(name, tmp_path)), compute_type="float32")
    view = ctranslate2.StorageView.from_array(np.ascontiguousarray(features.input_features.numpy()))
    ct2_ids = engine.generate(view, [prompt], beam_size=1, max_length=448)[0].sequences_ids[0]
    options = TranscribeOptions(language="en" if gen.is_multilingual else None)
    ours = transcribe(loaded, jfk, options).text
    assert loaded.processor.decode(ct2_ids, skip_special_tokens=True).strip() == ours
    assert wer(jfk_text, ours) <= 0.05


def test_close_to_faster_whisper(jfk):
    """faster-whisper computes its own log-mels, so allow punctuation-level differences."""
    faster_whisper = pytest.importorskip("faster_whisper")
    source, _ = bundled_source(WHISPER_MODELS["tiny.en"].bundled)
    fw = faster_whisper.WhisperModel(str(source), device="cpu", compute_type="float32")
    segments, _ = fw.transcribe(jfk, beam_size=1, without_timestamps=True, vad_filter=False)
    theirs = " ".join(s.text.strip() for s in segments)
    ours = transcribe(load_model(ModelSpec("asr", "tiny.en", "fp32", device="cpu")), jfk).text
    assert wer(theirs, ours) == 0.0  # identical words after normalization
