"""Abstractive summarizer plumbing on tiny random T5/BART/mBART (no real weights offline).

The models are random, so these tests check loading, quantization, adapters and generation
shapes, never summary quality; the extractive summarizer's quality is tested in
test_extractive.py on the real MiniLM.
"""

import pytest

from demo.errors import AdapterError
from demo.models import ModelSpec, load_model
from demo.summarize import SummaryOptions, summarize

TEXT = (
    "The committee met on Monday to review the budget. Spending on research rose by ten "
    "percent. The chair asked for a final report by Friday. "
) * 30  # longer than the tiny models' 128-token input, so chunking runs


def _save_adapter(base_path, out_dir, method):
    from peft import AdaLoraConfig, LoraConfig, get_peft_model
    from transformers import AutoModelForSeq2SeqLM

    model = AutoModelForSeq2SeqLM.from_pretrained(base_path)
    targets = ["q", "v"] if "t5" in str(base_path) else ["q_proj", "v_proj"]
    if method == "lora":
        config = LoraConfig(r=4, lora_alpha=8, target_modules=targets)
    else:
        config = AdaLoraConfig(init_r=6, target_r=4, target_modules=targets, total_step=10)
    peft_model = get_peft_model(model, config)
    for name, param in peft_model.named_parameters():
        if "lora_B" in name or "lora_E" in name:  # zero at init; non-zero changes output
            param.data.normal_(0, 0.5)
    peft_model.save_pretrained(out_dir)
    return out_dir


@pytest.mark.parametrize("family", ["t5", "bart", "mbart"])
def test_tiny_seq2seq_summarizes_long_text_in_chunks(tiny_seq2seq, family):
    loaded = load_model(ModelSpec("summarizer", str(tiny_seq2seq[family]), "full"))
    assert loaded.entry.family == family
    summary = summarize(loaded, TEXT, SummaryOptions(num_beams=1, max_new_tokens=6))
    assert isinstance(summary, str) and summary
    assert loaded.weights_mb > 0


def _logits(model, tokenizer):
    import torch

    inputs = tokenizer(TEXT[:200], return_tensors="pt")
    start = torch.tensor([[model.config.decoder_start_token_id]])
    with torch.inference_mode():
        return model(**inputs, decoder_input_ids=start).logits


@pytest.mark.parametrize("method", ["lora", "adalora"])
@pytest.mark.parametrize("family", ["t5", "bart"])
def test_adapter_is_applied_and_merged_exactly(tiny_seq2seq, tmp_path, family, method):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForSeq2SeqLM

    base = str(tiny_seq2seq[family])
    adapter = _save_adapter(base, tmp_path / f"{family}-{method}", method)
    plain = load_model(ModelSpec("summarizer", base, "full"))
    adapted = load_model(ModelSpec("summarizer", base, "full", str(adapter)))
    reference = PeftModel.from_pretrained(AutoModelForSeq2SeqLM.from_pretrained(base), adapter)
    tok = plain.processor
    assert not torch.allclose(_logits(plain.model, tok), _logits(adapted.model, tok), atol=1e-3)
    # load_model merges the adapter into full-precision weights: same function as PEFT's.
    assert torch.allclose(_logits(adapted.model, tok), _logits(reference.eval(), tok), atol=1e-4)
    assert summarize(adapted, TEXT[:200], SummaryOptions(num_beams=1, max_new_tokens=4))


def test_adapter_for_another_model_is_refused(tiny_seq2seq, tmp_path):
    adapter = _save_adapter(str(tiny_seq2seq["t5"]), tmp_path / "t5-lora", "lora")
    with pytest.raises(AdapterError, match="trained on"):
        load_model(ModelSpec("summarizer", str(tiny_seq2seq["bart"]), "full", str(adapter)))


@pytest.mark.parametrize("quant", ["int8", "nf4", "dynamic-int8"])
def test_summarizer_quantized_loads_and_generates(tiny_seq2seq, quant):
    full = load_model(ModelSpec("summarizer", str(tiny_seq2seq["bart"]), "full"))
    loaded = load_model(ModelSpec("summarizer", str(tiny_seq2seq["bart"]), quant))
    if quant == "dynamic-int8":
        # The tied lm_head gets its own int8 copy beside the fp32 embeddings, so on a model
        # this small the footprint grows; check the Linear layers were really swapped.
        kinds = {type(m).__module__ for m in loaded.model.modules()}
        assert any("quantized" in k for k in kinds)
    else:
        assert loaded.weights_mb < full.weights_mb
    summary = summarize(loaded, TEXT[:300], SummaryOptions(num_beams=1, max_new_tokens=4))
    assert isinstance(summary, str)
