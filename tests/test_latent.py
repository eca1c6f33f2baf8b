"""Latent-space compression (demo.compress.latent): the autoencoder, the model surgery for BART,
T5 and Whisper, save/reload, the error for a decoder-only model, and both training stages in
the one loop.

BART and T5 are tiny RANDOM models built from configs (tests/tiny_models.py; no such weights
exist offline): their tests check shapes, plumbing and exactness, never quality. Whisper is the
real bundled tiny.en; its narrow decoder is untrained here, so its output is not judged beyond
being tokens of the vocabulary.
"""

import json

import pytest
import torch
from tiny_models import _config, _tokenizer
from transformers import AutoModelForSeq2SeqLM, GPT2Config, LlamaConfig, PegasusConfig

from demo.compress.autoencoder import (
    Autoencoder,
    LatentError,
    PcaProjection,
    autoencoder_widths,
    load_autoencoder,
    masked_mse,
    save_autoencoder,
)
from demo.compress.latent import (
    PAPER_DECODING,
    Distillation,
    LatentModel,
    ReconstructionProbe,
    compress,
    decoder_parameters,
    family_of,
)

LATENT = 48  # tiny models are 64 wide


@pytest.fixture(scope="module")
def tokenizer():
    return _tokenizer()


def _tiny(family: str, tokenizer):
    """A tiny RANDOM BART/T5 (64 wide, 4 heads, 2 + 2 layers)."""
    torch.manual_seed(0)
    eos = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    return AutoModelForSeq2SeqLM.from_config(_config(family, len(tokenizer), eos)).eval()


@pytest.fixture(scope="module")
def tiny_en():
    from demo.models import ModelSpec, load_model

    return load_model(ModelSpec("asr", "tiny.en", "full", device="cpu"))


@pytest.fixture(scope="module")
def jfk_features(tiny_en, jfk_path):
    from demo.audio import load_audio

    audio = load_audio(jfk_path)
    return tiny_en.processor(audio, sampling_rate=16000, return_tensors="pt").input_features


def test_widths_follow_the_paper_and_refuse_a_wider_latent():
    assert autoencoder_widths(768, 384) == (768, 576, 480, 384)  # their BART-base setting
    assert autoencoder_widths(384, 256) == (384, 320, 288, 256)
    assert autoencoder_widths(64, 60) == (64, 60)  # no room for hidden layers
    with pytest.raises(LatentError, match="between 1 and the model width 767"):
        autoencoder_widths(768, 768)


def test_autoencoder_shapes_no_biases_and_it_learns_a_toy_input():
    torch.manual_seed(0)
    ae = Autoencoder(autoencoder_widths(32, 16))
    linears = [m for m in ae.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 4 and all(m.bias is None for m in linears)
    # Toy data: 8-dimensional structure embedded in 32 dimensions, 16 x 10 token vectors.
    basis = torch.randn(8, 32)
    x = torch.randn(16, 10, 8) @ basis
    z = ae.encoder(x)
    assert z.shape == (16, 10, 16) and z.abs().max() <= 1.0  # tanh at the latent
    assert ae(x).shape == x.shape
    optimizer = torch.optim.Adam(ae.parameters(), lr=2e-2)
    with torch.no_grad():
        first = float(masked_mse(ae(x), x))
    for _ in range(60):
        loss = masked_mse(ae(x), x)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(masked_mse(ae(x), x)) < 0.3 * first  # 0.14 when written


def test_pca_projection_keeps_a_low_rank_input_and_loses_the_discarded_energy():
    torch.manual_seed(0)
    basis = torch.linalg.qr(torch.randn(16, 16))[0]
    scales = torch.tensor([8.0, 4.0, 2.0, 1.0] + [0.0] * 12)
    hidden = (torch.randn(2000, 16) * scales) @ basis.T + 3.0  # rank 4 around a mean of 3
    exact = PcaProjection.fit(hidden, 4)
    assert exact.latent == 4 and torch.allclose(exact(hidden), hidden, atol=1e-4)
    two = PcaProjection.fit(hidden, 2)
    lost = ((two(hidden) - hidden) ** 2).sum() / ((hidden - hidden.mean(0)) ** 2).sum()
    assert lost.item() == pytest.approx((4 + 1) / (64 + 16 + 4 + 1), rel=0.1)
    with pytest.raises(LatentError, match="between 1 and the model width 15"):
        PcaProjection.fit(hidden, 16)


def test_masked_mse_ignores_padding():
    target = torch.zeros(1, 3, 4)
    prediction = torch.tensor([[[1.0] * 4, [1.0] * 4, [100.0] * 4]])
    mask = torch.tensor([[1, 1, 0]])
    assert float(masked_mse(prediction, target, mask)) == 1.0
    assert float(masked_mse(prediction, target)) > 1000


@pytest.mark.parametrize("family", ["bart", "t5"])
def test_narrow_decoder_generates_and_only_it_trains(family, tokenizer):
    model = _tiny(family, tokenizer)
    latent = compress(model, LATENT).eval()
    batch = tokenizer(["the quick brown fox jumps over the lazy dog"], return_tensors="pt")
    encoded = latent.encoder(**batch)
    assert encoded.last_hidden_state.shape[-1] == LATENT
    out = latent.generate(**batch, max_new_tokens=6, **PAPER_DECODING)
    assert out.shape[0] == 1 and 1 < out.shape[1] <= 7
    assert int(out.max()) < len(tokenizer)
    assert decoder_parameters(latent) < decoder_parameters(model)
    assert latent.config.d_model == LATENT and latent.heads == 4 and latent.notes == []
    # One step: gradients reach the narrow decoder only; the encoder and autoencoder are fixed.
    latent.train()
    latent(**batch, labels=batch["input_ids"]).loss.backward()
    grads = {n for n, p in latent.named_parameters() if p.grad is not None}
    assert grads and all(".decoder." in n or "shared" in n or "lm_head" in n for n in grads)
    assert all(p.grad is None for p in latent.autoencoder.parameters())
    assert all(p.grad is None for p in latent.encoder.inner.parameters())
    assert not latent.encoder.inner.training  # frozen: no dropout in training either
    # The original model is untouched: its own encoder still outputs d_model.
    assert model.get_encoder()(**batch).last_hidden_state.shape[-1] == 64


def test_heads_are_adjusted_when_the_latent_is_not_divisible(tokenizer):
    latent = compress(_tiny("bart", tokenizer), 42)  # 4 heads don't divide 42
    assert latent.heads == 3 and "not divisible" in latent.notes[0]
    batch = tokenizer(["hello"], return_tensors="pt")
    assert latent.generate(**batch, max_new_tokens=3).shape[1] > 1


def test_save_and_reload_give_identical_outputs(tokenizer, tmp_path):
    latent = compress(_tiny("bart", tokenizer), LATENT).eval()
    with torch.no_grad():  # move the weights off their initial values
        for p in latent.parameters():
            p.add_(0.01 * torch.randn_like(p))
    latent.save_pretrained(tmp_path)
    info = json.loads((tmp_path / "latent.json").read_text())
    assert info["widths"][-1] == LATENT and info["model_class"] == "BartForConditionalGeneration"
    again = LatentModel.from_pretrained(tmp_path)
    batch = tokenizer(["a sentence to summarize, or so"], return_tensors="pt")
    labels = tokenizer(["a summary"], return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.equal(
            latent(**batch, labels=labels).logits, again(**batch, labels=labels).logits
        )
    kwargs = {"max_new_tokens": 6, **PAPER_DECODING}
    assert torch.equal(latent.generate(**batch, **kwargs), again.generate(**batch, **kwargs))
    assert torch.equal(
        load_autoencoder(tmp_path).encoder[0].weight, latent.autoencoder.encoder[0].weight
    )


def test_a_model_that_is_not_an_encoder_decoder_gets_one_sentence():
    for config in (GPT2Config(n_layer=1, n_embd=32, n_head=2), LlamaConfig(hidden_size=32)):
        with pytest.raises(LatentError, match="needs an encoder-decoder model") as caught:
            family_of(config)
        assert str(caught.value).count(".") == 1 and "bart, mbart, t5, whisper" in str(caught.value)
    with pytest.raises(LatentError, match="doesn't know how to rebuild pegasus"):
        family_of(PegasusConfig())


def test_reload_errors_are_sentences(tmp_path):
    with pytest.raises(LatentError, match="not a latent-compression folder"):
        LatentModel.from_pretrained(tmp_path)
    save_autoencoder(Autoencoder((64, 48)), tmp_path)
    with pytest.raises(LatentError, match="autoencoder only"):
        LatentModel.from_pretrained(tmp_path)
    with pytest.raises(LatentError, match="maps 64 -> 48"):
        compress(_tiny("t5", _tokenizer()), 32, load_autoencoder(tmp_path))


def test_whisper_tiny_en_latent_decoder_generates(tiny_en, jfk_features):
    model = tiny_en.model.eval()
    latent = compress(model, 256).eval()
    assert latent.heads == 4 and "6 -> 4" in latent.notes[0]  # 256 isn't divisible by 6
    assert decoder_parameters(model) > 29e6 > 19e6 > decoder_parameters(latent)
    ids = latent.generate(input_features=jfk_features, max_new_tokens=8)
    assert ids.shape[0] == 1 and ids.shape[1] > 1 and int(ids.max()) < model.config.vocab_size
    assert isinstance(tiny_en.processor.batch_decode(ids, skip_special_tokens=True)[0], str)
    # Distillation mixes the transcript loss with a KL term to the original decoder.
    labels = tiny_en.processor.tokenizer(
        "And so my fellow Americans", return_tensors="pt"
    ).input_ids
    with torch.no_grad():
        teacher = model(input_features=jfk_features, labels=labels).logits
        plain = float(latent(input_features=jfk_features, labels=labels).loss)
        latent.distillation = Distillation(weight=0.5, temperature=2.0)
        mixed = float(
            latent(input_features=jfk_features, labels=labels, teacher_logits=teacher).loss
        )
    assert plain > 0 and mixed > 0 and mixed != plain
    # The untouched original still transcribes.
    text = tiny_en.processor.batch_decode(
        model.generate(input_features=jfk_features, max_new_tokens=8), skip_special_tokens=True
    )[0]
    assert "fellow" in text


def test_reconstruction_probe_trains_the_autoencoder_only(tiny_en, jfk_features):
    probe = ReconstructionProbe(tiny_en.model, Autoencoder(autoencoder_widths(384, 256)))
    probe.train()
    loss = probe(input_features=jfk_features, labels=torch.tensor([[50362, 400]])).loss
    loss.backward()
    assert loss > 0 and all(p.grad is not None for p in probe.autoencoder.parameters())
    assert all(p.grad is None for p in tiny_en.model.parameters())
    probe.eval()
    with torch.no_grad():
        out = probe(input_features=jfk_features, labels=torch.tensor([[50362, 400]]))
    assert out.logits.shape[-1] == tiny_en.model.config.vocab_size
    scores = probe.pop_scores()
    assert scores["reconstruction_mse"] > 0 and scores["reconstruction_fvu"] > 0
    assert probe.pop_scores() == {}  # popped


def test_training_config_says_what_to_give():
    from training.train_latent import LatentAsrConfig, sweep

    with pytest.raises(ValueError, match="--latent 256 or --sweep-latent"):
        LatentAsrConfig(train="x.jsonl")
    with pytest.raises(ValueError, match="needs --autoencoder"):
        LatentAsrConfig(train="x.jsonl", stage="decoder")
    with pytest.raises(ValueError, match="--method full"):
        LatentAsrConfig(train="x.jsonl", latent=256, method="lora")
    with pytest.raises(ValueError, match="unquantized"):  # the narrow decoder is rebuilt in float
        LatentAsrConfig(train="x.jsonl", latent=256, quant="int8")
    configs = sweep(LatentAsrConfig(train="x.jsonl", sweep_latent="320,128"))
    assert [c.latent for c in configs] == [320, 128]
    assert [c.run_id.split("-z")[1].split("-")[0] for c in configs] == ["320", "128"]


def test_encoder_cache_skips_the_encoder_for_examples_it_has_seen():
    from training.train_latent import EncoderCache

    class Counting(torch.nn.Module):
        main_input_name = "input_ids"
        calls = 0

        def encode(self, input_ids, attention_mask=None):
            self.calls += 1
            return (input_ids.float().unsqueeze(-1).repeat(1, 1, 3),)

    encoder, cache = Counting(), EncoderCache(limit_mb=1)
    ids = torch.tensor([[5, 6, 7], [8, 9, 0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    first = cache.hidden(encoder, {"input_ids": ids, "attention_mask": mask})
    # The same examples in another order, padded longer: served from the cache.
    again = cache.hidden(
        encoder,
        {"input_ids": torch.tensor([[8, 9, 0, 0], [5, 6, 7, 0]]),
         "attention_mask": torch.tensor([[1, 1, 0, 0], [1, 1, 1, 0]])},
    )  # fmt: skip
    assert encoder.calls == 1 and again.shape == (2, 4, 3)
    assert torch.equal(again[1, :3], first[0]) and torch.equal(again[0, :2], first[1, :2])
    assert float(again[0, 2:].abs().sum()) == 0.0
    off = EncoderCache(limit_mb=0)
    off.hidden(encoder, {"input_ids": ids, "attention_mask": mask})
    off.hidden(encoder, {"input_ids": ids, "attention_mask": mask})
    assert encoder.calls == 3 and off.items == {}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from training.make_speech_corpus import CorpusConfig, make_corpus

    out = tmp_path_factory.mktemp("latent-espeak")
    return make_corpus(CorpusConfig(out=str(out), num_utterances=3, val_fraction=0.34))


def test_both_stages_train_in_the_one_loop_and_the_result_reloads(corpus, tmp_path, jfk_features):
    from results.runs import load_run
    from training.train_latent import main

    common = ["--model", "tiny.en", "--train", str(corpus), "--output-dir", str(tmp_path),
              "--batch-size", "1", "--max-new-tokens", "4", "--device", "cpu",
              "--max-train-samples", "1", "--max-val-samples", "1",
              "--no-eval-real-speech"]  # fmt: skip
    assert main(["--stage", "autoencoder", "--latent", "256", "--max-steps", "1", *common]) == 0
    (ae_run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert ae_run.name.startswith("asr-tiny.en-latent-ae-z256-")
    info = json.loads((ae_run / "run.json").read_text())
    assert (info["system"], info["status"], info["method"]) == ("latent", "completed", "full")
    assert info["extra"]["latent"] == 256 and info["extra"]["widths"] == [384, 320, 288, 256]
    assert info["trainable_params"] == info["extra"]["autoencoder_params"] < 1e6
    lines = [json.loads(line) for line in (ae_run / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [0, 1]
    assert all(line["reconstruction_mse"] > 0 and "wer" in line for line in lines)
    assert (ae_run / "checkpoint-final" / "autoencoder.safetensors").is_file()

    assert (
        main(["--stage", "decoder", "--autoencoder", str(ae_run), "--max-steps", "1", *common]) == 0
    )
    (dec_run,) = [p for p in tmp_path.iterdir() if p.is_dir() and p != ae_run]
    info = json.loads((dec_run / "run.json").read_text())
    extra = info["extra"]
    assert extra["stage"] == "decoder" and extra["latent"] == 256 and extra["distill_weight"] == 0.5
    assert extra["decoder_params"] < 0.7 * extra["original_decoder_params"]
    assert info["trainable_params"] == extra["decoder_params"]
    run = load_run(dec_run)
    assert run.warnings == [] and run.info.system == "latent"
    latent = LatentModel.from_pretrained(dec_run / "checkpoint-final")
    ids = latent.generate(input_features=jfk_features, max_new_tokens=4)
    assert ids.shape[0] == 1 and ids.shape[1] > 1

    from bench.latent_whisper import LatentWhisperOptions, run

    options = LatentWhisperOptions(
        manifest=str(corpus), split="validation", runs=(str(ae_run), str(dec_run)), repeats=1,
        max_new_tokens=4, pca_latents=(192,), pca_clips=1, out=str(tmp_path / "bench"),
    )  # fmt: skip
    _, rows = run(options)
    by = {r["variant"]: r for r in rows}
    assert set(by) == {"original", "reconstruction", "latent", "pca"}
    assert by["pca"]["latent"] == 192 and by["pca"]["transcribe_s"] is None  # not timed
    # One training step leaves the autoencoder far from the best linear map of its width.
    assert 0 < by["pca"]["reconstruction_fvu"] < by["reconstruction"]["reconstruction_fvu"]
    assert by["latent"]["decoder_params_ratio"] < 0.7 and by["original"]["transcribe_s"] > 0
