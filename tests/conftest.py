"""Shared fixtures: real clips from tests/data, offline hub settings, requires_cuda marker."""

import os
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
JFK_TEXT = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)

# No test touches the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "requires_cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def jfk_path() -> Path:
    return DATA / "jfk.flac"


@pytest.fixture(scope="session")
def multilingual_path() -> Path:
    return DATA / "multilingual.mp3"


@pytest.fixture(scope="session")
def tiny_seq2seq(tmp_path_factory):
    """``family -> path`` of tiny random t5/bart/mbart checkpoints (see tests/tiny_models.py)."""
    from tiny_models import FAMILIES, make_tiny_seq2seq

    root = tmp_path_factory.mktemp("tiny-seq2seq")
    return {f: make_tiny_seq2seq(f, root / f"tiny-{f}") for f in FAMILIES}
