"""The Q-Former bridge as the app's compression choice, on real parts: the frozen Whisper tiny.en,
a Q-Former initialised from the bundled MiniLM, and the jfk clip.

The bridge here is not trained: with the pooled shortcut (``--shortcut``) and 100 local queries
its Whisper head starts at zero, so the decoder reads the clip's frames pooled to 100 vectors,
which is what ``training.eval_bridge --pooled 100`` measures. That is enough to tell whether the
export, the loading and the pipeline carry the speech through; the trained bridge's accuracy is
in ``checkpoints/bench/`` (the WER-vs-Nq table and the shipped bridge's rows).
"""

import json

import pytest
import torch
from safetensors import safe_open

from demo.bridge.serve import SERVE_DIR, bridge_info, export_bridge, list_bridges
from demo.compress.choices import compression_info, list_compressions
from demo.errors import CompressionError, DemoError
from demo.models import ModelSpec, load_model
from demo.pipeline import PipelineOptions, run_pipeline

NUM_QUERIES = 100


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run folder as train_bridge writes it (bridge/, fp32, whole), exported for serving."""
    from demo.bridge.model import SpeechBridge

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("checkpoints")
    folder = root / "bridge-asr-tiny.en-q100-test"
    bridge = SpeechBridge.from_minilm(
        "tiny.en", 384, NUM_QUERIES, segments=True, shortcut=True, heads={"whisper": 384}
    )
    bridge.save(folder / "bridge")
    export_bridge(folder)
    return folder


def test_export_keeps_the_query_path_in_fp16_with_the_base_fingerprint(run):
    served = run / SERVE_DIR / "bridge.safetensors"
    whole = run / "bridge" / "bridge.safetensors"
    with safe_open(str(served), "pt") as f:
        keys = list(f.keys())
        dtypes = {f.get_tensor(k).dtype for k in keys}
    assert dtypes == {torch.float16}
    assert not any("word_embeddings" in k or "text_ffn" in k or "lm_head" in k for k in keys)
    assert any(k.startswith("heads.whisper") for k in keys) and "queries" in keys
    # The text side (30k-word embeddings, its feed-forward blocks) is most of the whole file.
    assert served.stat().st_size < 0.25 * whole.stat().st_size
    saved = json.loads((run / SERVE_DIR / "bridge.json").read_text())
    assert saved["query_path"] is True and len(saved["base_fingerprint"]) == 16
    info = bridge_info(run)
    assert (info.base, info.num_queries, info.kind) == ("tiny.en", NUM_QUERIES, "bridge")
    assert "100 vectors" in info.label


def test_the_app_offers_the_bridge_for_its_whisper_only(run):
    root = run.parent
    assert [b.path for b in list_bridges(root, "tiny.en")] == [run / SERVE_DIR]
    assert list_bridges(root, "base") == []
    listed = list_compressions(root, base="tiny.en")
    assert [c.kind for c in listed] == ["bridge"]
    assert compression_info(run).path == run / SERVE_DIR


def test_the_pipeline_transcribes_through_the_bridge_at_full_precision(run):
    options = PipelineOptions(
        asr="tiny.en", compression=str(run), summarizer="extractive", device="cpu"
    )
    assert options.label().startswith("tiny.en/auto+bridge")
    result = run_pipeline("tests/data/jfk.flac", options)
    text = result.transcript.lower()
    assert "fellow americans" in text and "your country" in text
    assert result.memory["asr"].quant == "full"  # auto: the bridge trained on fp32
    assert any("research system" in note for note in result.notes)  # what real speech showed
    assert result.segments and result.segments[0]["start"] < 1.0


def test_bridge_refuses_other_weights_modes_adapters_and_bases(run, tmp_path):
    with pytest.raises(CompressionError, match="full-precision decoder"):
        load_model(ModelSpec("asr", "tiny.en", "fast-int8", None, "cpu", str(run)))
    with pytest.raises(CompressionError, match="no Whisper adapter"):
        load_model(ModelSpec("asr", "tiny.en", "full", str(tmp_path), "cpu", str(run)))
    with pytest.raises(CompressionError, match="made from tiny.en"):
        load_model(ModelSpec("asr", "base", "full", None, "cpu", str(run)))
    # The same bridge, saved against other Whisper weights: refused before it transcribes.
    other = tmp_path / "other-run" / SERVE_DIR
    other.mkdir(parents=True)
    for name in ("bridge.safetensors", "bridge.json"):
        (other / name).write_bytes((run / SERVE_DIR / name).read_bytes())
    config = json.loads((other / "bridge.json").read_text())
    (other / "bridge.json").write_text(json.dumps({**config, "base_fingerprint": "0" * 16}))
    with pytest.raises(DemoError, match="other tiny.en weights"):
        load_model(ModelSpec("asr", "tiny.en", "auto", None, "cpu", str(other.parent)))
    with pytest.raises(CompressionError, match="neither a low-rank model nor"):
        load_model(ModelSpec("asr", "tiny.en", "auto", None, "cpu", str(tmp_path)))
