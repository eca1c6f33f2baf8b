"""Base model loaders by kind: the weights at a quantization mode, nothing else.

No adapter, no compression, no post-load conversion: ``demo.models.load_model`` adds those for
the app, training and the benches; the E2E model and the bridge build on these directly. This
module sits below ``demo.models``, ``demo.bridge.e2e_io`` and ``demo.compress.lowrank_io`` and
imports none of them.
"""

from __future__ import annotations

from collections.abc import Callable

from demo.asr.registry import WhisperModel, whisper_source
from demo.hub import from_pretrained
from demo.quant import QuantMode, from_pretrained_kwargs, resolve_quant
from demo.summarize.registry import SummarizerModel, summarizer_source


def _as_mode(mode: QuantMode | str, kind: str, device: str) -> QuantMode:
    """A mode object as is; a name (training's ``--quant``, ``auto``) resolved for the kind."""
    return resolve_quant(mode, kind, device) if isinstance(mode, str) else mode


def load_whisper_base(entry: WhisperModel, mode: QuantMode | str, device: str, **extra):
    """Load a Whisper model and processor at a quantization mode (no adapter, no post-load)."""
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    mode = _as_mode(mode, "asr", device)
    source = whisper_source(entry)
    processor = from_pretrained(WhisperProcessor, "Whisper model", source)
    kwargs = from_pretrained_kwargs(mode, device, skip_modules=["proj_out"])
    kwargs.update(extra)
    model = from_pretrained(
        WhisperForConditionalGeneration, "Whisper model", source, weights=True, **kwargs
    )
    if device == "cuda" and not mode.bnb:
        model = model.to("cuda")
    return model, processor


def load_seq2seq_base(entry: SummarizerModel, mode: QuantMode | str, device: str, **extra):
    """Load a seq2seq summarizer and tokenizer at a quantization mode (no adapter)."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    mode = _as_mode(mode, "seq2seq", device)
    tokenizer = from_pretrained(AutoTokenizer, "summarizer", entry.hub_id)
    kwargs = from_pretrained_kwargs(mode, device, skip_modules=["lm_head"])
    kwargs.update(extra)
    model = from_pretrained(
        AutoModelForSeq2SeqLM, "summarizer", entry.hub_id, weights=True, **kwargs
    )
    if device == "cuda" and not mode.bnb:
        model = model.to("cuda")
    return model, tokenizer


def load_llm_base(entry: SummarizerModel, mode: QuantMode | str, device: str, **extra):
    """Load a decoder-only LM summarizer and its tokenizer at a quantization mode (no adapter).

    The bundled SmolLM2 is converted from its GGUF file into the model cache on first use;
    the others come from the hub (offline: one sentence naming the model and how to get it).
    The tokenizer pads on the left, as batched generation from prompts needs.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    mode = _as_mode(mode, "llm", device)
    source = summarizer_source(entry)
    tokenizer = from_pretrained(AutoTokenizer, "summarizer", source)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    # lm_head stays in float under bitsandbytes (as transformers recommends for causal LMs);
    # it is tied to the embeddings in the small models, which bnb never quantizes anyway.
    kwargs = from_pretrained_kwargs(mode, device, skip_modules=["lm_head"])
    kwargs.update(extra)
    model = from_pretrained(AutoModelForCausalLM, "summarizer", source, weights=True, **kwargs)
    if device == "cuda" and not mode.bnb:
        model = model.to("cuda")
    return model, tokenizer


# Model kind -> (entry, mode, device, **from_pretrained extras) -> (model, processor).
BASE_LOADERS: dict[str, Callable] = {
    "asr": load_whisper_base,
    "seq2seq": load_seq2seq_base,
    "llm": load_llm_base,
}
