"""Semi-orthogonal low-rank Whisper (demo.compress.lowrank) on the real tiny.en.

The constraint step, the SVD initialisation, transcription at full and at quarter rank, save
and reload, refusal of a checkpoint made for another base, and 3-step training runs through the
real loop (constraint on, constraint off, LoRA on the frozen factors) on espeak-ng clips.
"""

import copy
import json
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch
from loaded_models import TINY_PARAMS, TINY_QUARTER_PARAMS, cpu_model

from demo.compress.lowrank import (
    LowRankConfig,
    LowRankLinear,
    constrain_matrix,
    count_parameters,
    count_tokens,
    factorize,
    input_moments,
    lowrank_modules,
    matrix_orthogonality_error,
    orthogonality_error,
    parameter_counts,
    svd_factors,
    token_row_weights,
)
from demo.compress.lowrank_io import (
    CONFIG_FILE,
    MOMENTS_FILE,
    WEIGHTS_FILE,
    load_lowrank,
    read_lowrank_config,
    save_lowrank,
)
from demo.errors import CompressionError
from demo.models import load_lowrank_whisper

tiny = cpu_model("tiny", "asr", "tiny.en", "fp32")


@pytest.fixture(scope="module")
def jfk(jfk_path):
    from demo.audio import load_audio

    return load_audio(jfk_path)


def _fresh_base():
    from demo.asr.registry import get_whisper_model
    from demo.loaders import load_whisper_base

    model, _ = load_whisper_base(get_whisper_model("tiny.en"), "fp32", "cpu")
    return model.eval()


def _copy(loaded, config: LowRankConfig, max_new_tokens: int | None = None):
    model = copy.deepcopy(loaded.model)
    factorize(model, config)
    if max_new_tokens is not None:
        model.generation_config.max_new_tokens = max_new_tokens
    return replace(loaded, model=model.eval())


def _logits(model, loaded, audio) -> torch.Tensor:
    features = loaded.processor.feature_extractor(
        audio, sampling_rate=16000, return_tensors="pt"
    ).input_features
    prompt = torch.tensor([[50257, 50362, 400, 370]])  # <|startoftranscript|> <|notimestamps|>
    with torch.no_grad():
        return model(input_features=features, decoder_input_ids=prompt).logits


# ----------------------------------------------------------------------------- the mechanism


@pytest.mark.parametrize("shape, steps", [((64, 256), 20), ((32, 32), 40)])
def test_constraint_drives_a_random_matrix_to_a_scaled_semi_orthogonal_one(shape, steps):
    torch.manual_seed(0)
    a = torch.randn(*shape) * 0.05
    before = matrix_orthogonality_error(a)
    for _ in range(steps):
        constrain_matrix(a)
    after = matrix_orthogonality_error(a)
    assert before > 1.0
    assert after < 1e-4 * before  # four orders of magnitude
    p = a @ a.T
    alpha2 = float(p.diagonal().mean())
    assert torch.allclose(p, alpha2 * torch.eye(shape[0]), atol=1e-4 * alpha2)
    assert 0.01 < alpha2 < 1.0  # the scale floats: not forced to 1


def test_svd_at_full_rank_reproduces_the_weight(tiny):
    fc1 = tiny.model.model.encoder.layers[0].fc1
    factors = LowRankLinear.from_linear(fc1, 384)
    assert torch.allclose(factors.dense_weight(), fc1.weight, atol=1e-5)
    a = factors.down.weight
    assert torch.allclose(a @ a.T, torch.eye(384), atol=1e-5)
    x = torch.randn(3, 384)
    assert torch.allclose(factors(x), fc1(x), atol=1e-4)
    assert torch.equal(factors.up.bias, fc1.bias)


def test_factorize_counts_match_the_architecture(tiny):
    config = LowRankConfig(rank_fraction=0.25)
    counted = parameter_counts(tiny.model, config)
    assert counted["params_before"] == TINY_PARAMS
    assert counted["params_after"] == TINY_QUARTER_PARAMS
    attention = LowRankConfig(targets=("fc1", "fc2", "q_proj"), rank_fraction=0.25)
    assert parameter_counts(tiny.model, attention)["params_after"] < TINY_QUARTER_PARAMS
    with pytest.raises(CompressionError, match="smaller side"):
        parameter_counts(tiny.model, LowRankConfig(rank_fraction=1.5))
    with pytest.raises(CompressionError, match="No linear layer named"):
        factorize(copy.deepcopy(tiny.model), LowRankConfig(targets=("ffn",)))


def test_a_target_can_take_its_own_rank(tiny, tmp_path):
    """Thin q/k projections beside wider fc1/fc2 (--compress-targets fc1 fc2 q_proj:32)."""
    from results.runs import lowrank_factorization
    from training.config import AsrConfig

    config = AsrConfig(
        train="m.jsonl", compress="lowrank", lowrank_rank=96,
        compress_targets=("fc1", "fc2", "q_proj:32", "k_proj:32"),
    ).lowrank_config()  # fmt: skip
    assert config.targets == ("fc1", "fc2", "q_proj", "k_proj")
    assert config.target_ranks == (("q_proj", 32), ("k_proj", 32))
    model, record = factorize(copy.deepcopy(tiny.model), config)
    ranks = {name.rsplit(".", 1)[-1]: m["rank"] for name, m in record.modules.items()}
    assert ranks == {"fc1": 96, "fc2": 96, "q_proj": 32, "k_proj": 32}
    assert record.params_after == parameter_counts(tiny.model, config)["params_after"]
    folder = save_lowrank(model, tmp_path / "mixed", "tiny.en", weights=False)
    assert read_lowrank_config(folder)["target_ranks"] == {"q_proj": 32, "k_proj": 32}
    reloaded = load_lowrank(folder, _fresh_base(), "tiny.en")
    assert {n: m.rank for n, m in lowrank_modules(reloaded).items()} == {
        n: m["rank"] for n, m in record.modules.items()
    }
    # How tables and charts name it (the summary run.json records).
    run = SimpleNamespace(info=SimpleNamespace(extra={"lowrank": record.summary()}))
    assert lowrank_factorization(run) == "fc1/fc2 at rank 96, q_proj/k_proj at rank 32"
    with pytest.raises(ValueError, match="give name:rank"):
        AsrConfig(train="m.jsonl", compress="lowrank", compress_targets=("q_proj:x",))
    with pytest.raises(ValueError, match="not a target"):
        LowRankConfig(targets=("fc1",), target_ranks=(("q_proj", 8),))


# ----------------------------------------------------------------------------- transcription


def test_full_rank_factorization_transcribes_jfk_exactly_as_the_original(tiny, jfk):
    from demo.asr import transcribe

    original = transcribe(tiny, jfk).text
    factorized = _copy(tiny, LowRankConfig(rank_fraction=1.0))
    assert len(lowrank_modules(factorized.model)) == 16
    assert orthogonality_error(factorized.model) < 1e-4
    assert transcribe(factorized, jfk).text == original
    assert "ask not what your country can do for you" in original


def test_quarter_rank_still_loads_and_transcribes(tiny, jfk, jfk_text):
    from demo.asr import transcribe
    from demo.measure import weights_footprint_mb
    from demo.metrics import wer

    # Untrained, r = d/4 loses the words (the paper fine-tunes): cap the loop it falls into.
    factorized = _copy(tiny, LowRankConfig(rank_fraction=0.25), max_new_tokens=40)
    assert count_parameters(factorized.model) == TINY_QUARTER_PARAMS
    assert weights_footprint_mb(factorized.model) < 0.85 * tiny.weights_mb
    text = transcribe(factorized, jfk).text
    print(f"untrained r=d/4 fp32 WER on jfk: {100 * wer(jfk_text, text):.1f}%  {text[:60]!r}")
    assert isinstance(text, str) and wer(jfk_text, text) >= 0


def test_the_app_modes_quantize_after_factorizing(tiny, jfk, tmp_path, jfk_text):
    from demo.asr import transcribe
    from demo.metrics import wer

    full_rank = _copy(tiny, LowRankConfig(rank_fraction=1.0))
    save_lowrank(full_rank.model, tmp_path / "lowrank", "tiny.en", weights=False)
    for quant in ("dynamic-int8", "fast-int8"):
        loaded = load_lowrank_whisper(tmp_path / "lowrank", quant=quant, device="cpu")
        assert loaded.spec.quant == quant and loaded.entry.name == "tiny.en"
        assert wer(jfk_text, transcribe(loaded, jfk).text) < 0.05  # int8 may move a comma
    with pytest.raises(CompressionError, match="bitsandbytes"):
        load_lowrank_whisper(tmp_path / "lowrank", quant="nf4", device="cpu")


def test_the_tied_vocabulary_projection_factorizes_with_its_embedding(tiny, jfk, tmp_path):
    from demo.asr import transcribe
    from demo.compress.lowrank import TiedLowRankEmbedding

    # Full rank: the same words, with proj_out and embed_tokens reading the same two factors.
    full = _copy(tiny, LowRankConfig(targets=("proj_out",), rank_fraction=1.0))
    embed = full.model.model.decoder.embed_tokens
    assert isinstance(embed, TiedLowRankEmbedding)
    assert count_parameters(full.model) == count_parameters(tiny.model) + 384 * 384
    assert transcribe(full, jfk).text == transcribe(tiny, jfk).text

    # Half rank: the embedding is half of tiny.en, so this is -26% of the whole model.
    half = _copy(tiny, LowRankConfig(targets=("proj_out",), rank_fraction=0.5))
    assert 0.73 < count_parameters(half.model) / count_parameters(tiny.model) < 0.75
    record = read_lowrank_config(save_lowrank(half.model, tmp_path / "s", "tiny.en", weights=False))
    assert record["modules"]["proj_out"]["tied"] == ["model.decoder.embed_tokens"]
    projection = half.model.proj_out
    with torch.no_grad():  # as training moves the factors, the embedding moves with them
        projection.up.weight.add_(0.01 * torch.randn_like(projection.up.weight))
    embed = half.model.model.decoder.embed_tokens
    ids = torch.tensor([[50257, 400, 370]])
    assert torch.allclose(embed(ids), projection.dense_weight()[ids], atol=1e-6)
    folder = save_lowrank(half.model, tmp_path / "w", "tiny.en")
    reloaded = load_lowrank(folder, _fresh_base(), "tiny.en")
    assert isinstance(reloaded.model.decoder.embed_tokens, TiedLowRankEmbedding)
    assert torch.equal(_logits(reloaded, tiny, jfk), _logits(half.model, tiny, jfk))
    # The fast path keeps the projection as two thin int8 linears.
    fast = load_lowrank_whisper(folder, quant="fast-int8", device="cpu")
    assert isinstance(fast.model.proj_out, torch.nn.Sequential)
    assert isinstance(transcribe(fast, jfk).text, str)


def test_token_weighted_svd_fits_the_rows_that_count():
    torch.manual_seed(0)
    weight = torch.randn(300, 24, dtype=torch.float64)
    # Full rank: W exactly, with orthonormal rows in A, whatever the weights.
    down, up = svd_factors(weight, 24, torch.rand(300, dtype=torch.float64) + 0.1)
    assert torch.allclose(up @ down, weight, atol=1e-10)
    assert torch.allclose(down @ down.T, torch.eye(24, dtype=torch.float64), atol=1e-10)
    # Rank 8 with 5 heavily used rows: those are fitted far better than by the plain SVD.
    counts = token_row_weights(count_tokens([[0, 1, 2, 3, 4] * 20], 300))
    assert counts[0] == pytest.approx(20.01) and counts[5] == pytest.approx(0.01)
    plain_down, plain_up = svd_factors(weight, 8)
    down, up = svd_factors(weight, 8, counts)
    used = slice(0, 5)
    plain_error = (weight - plain_up @ plain_down)[used].norm()
    assert (weight - up @ down)[used].norm() < 0.1 * plain_error
    with pytest.raises(ValueError, match="0..299"):
        count_tokens([[300]], 300)
    with pytest.raises(ValueError, match="positive"):
        svd_factors(weight, 8, torch.zeros(300))


def test_activation_aware_svd_fits_the_outputs_the_layer_produces():
    torch.manual_seed(0)
    weight = torch.randn(300, 24, dtype=torch.float64)
    # Inputs that use a few directions much more than the rest, as hidden states do.
    inputs = torch.randn(2000, 24, dtype=torch.float64) * torch.logspace(1, -1, 24)
    moment = inputs.T @ inputs / len(inputs)
    rows = token_row_weights(count_tokens([[0, 1, 2, 3, 4] * 20], 300))

    def output_error(down, up, w=None):  # Σ_t w_t ‖(W_t − B_t A) x‖² over the inputs
        error = (inputs @ (weight - up @ down).T) ** 2
        return float((error.sum(0) * (1 if w is None else w)).sum())

    for w in (None, rows):
        plain = svd_factors(weight, 8, w)
        down, up = svd_factors(weight, 8, w, moment)
        assert output_error(down, up, w) < 0.7 * output_error(*plain, w)
        assert torch.allclose(down @ down.T, torch.eye(8, dtype=torch.float64), atol=1e-10)
    # Full rank: W exactly; inputs alike in every direction: the plain SVD's fit.
    down, up = svd_factors(weight, 24, rows, moment)
    assert torch.allclose(up @ down, weight, atol=1e-9)
    down, up = svd_factors(weight, 8, None, torch.eye(24, dtype=torch.float64) * 3)
    plain_down, plain_up = svd_factors(weight, 8)
    assert torch.allclose(up @ down, plain_up @ plain_down, atol=1e-9)
    with pytest.raises(ValueError, match="24 x 24"):
        svd_factors(weight, 8, None, torch.eye(12))
    with pytest.raises(ValueError, match="saw no input"):
        svd_factors(weight, 8, None, torch.zeros(24, 24))


def test_an_activation_aware_start_reads_the_decoder_states_and_rebuilds(tiny, jfk, tmp_path):
    """tiny.en's tied projection at rank 272, fitted to the decoder's last hidden states on
    jfk (the moment of proj_out's inputs): the logits it gives there are closer to the
    original's than the token-weighted start's; a structure-only folder keeps the moments and
    rebuilds the same factors; without them it is refused in one sentence."""
    features = tiny.processor.feature_extractor(
        jfk, sampling_rate=16000, return_tensors="pt"
    ).input_features
    ids = tiny.processor.tokenizer(" And so my fellow Americans, ask not").input_ids
    batch = {"input_features": features, "decoder_input_ids": torch.tensor([ids])}
    moments = input_moments(tiny.model, ("proj_out",), [batch])
    assert set(moments) == {"proj_out"} and moments["proj_out"].shape == (384, 384)
    counts = count_tokens([ids], 51864)
    config = LowRankConfig(targets=("proj_out",), rank=272, init="activation-aware")
    with pytest.raises(CompressionError, match="input moments"):
        factorize(copy.deepcopy(tiny.model), config, counts)
    aware = factorize(copy.deepcopy(tiny.model), config, counts, moments)[0].eval()
    weighted_config = replace(config, init="token-weighted")
    weighted = factorize(copy.deepcopy(tiny.model), weighted_config, counts)[0].eval()
    with torch.no_grad():
        original = tiny.model(**batch).logits
        gaps = [(m(**batch).logits - original).norm() for m in (aware, weighted)]
    assert gaps[0] < gaps[1]
    assert orthogonality_error(aware) < 1e-5
    bare = save_lowrank(aware, tmp_path / "bare", "tiny.en", weights=False)
    assert read_lowrank_config(bare)["init"] == "activation-aware"
    rebuilt = load_lowrank(bare, _fresh_base(), "tiny.en")
    assert torch.equal(_logits(rebuilt, tiny, jfk), _logits(aware, tiny, jfk))
    (bare / MOMENTS_FILE).unlink()
    with pytest.raises(CompressionError, match="neither weights nor the input moments"):
        load_lowrank(bare, _fresh_base(), "tiny.en")


def test_a_token_weighted_factorization_keeps_the_prompt_and_jfk(tiny, jfk, jfk_text, tmp_path):
    """tiny.en's tied projection at 2/3 d: the plain SVD's untrained model loops on jfk; weighted
    by the tokens of 60 ACLSum summaries (scientific English, nothing of jfk's speech; each
    with the prompt and end tokens), it does not."""
    from demo.asr import transcribe
    from demo.metrics import wer
    from training.corpora.aclsum import load_papers

    tokenizer = tiny.processor.tokenizer
    texts = [paper.joined_summary for paper in load_papers("train")[:60]]
    counts = count_tokens([tokenizer(text).input_ids for text in texts], 51864)
    config = LowRankConfig(targets=("proj_out",), rank_fraction=0.667)
    plain = _copy(tiny, config, max_new_tokens=40)
    assert wer(jfk_text, transcribe(plain, jfk).text) > 0.5
    weighted_config = replace(config, init="token-weighted")
    with pytest.raises(CompressionError, match="token counts"):
        factorize(copy.deepcopy(tiny.model), weighted_config)
    model = copy.deepcopy(tiny.model)
    factorize(model, weighted_config, counts)
    weighted = replace(tiny, model=model.eval())
    assert wer(jfk_text, transcribe(weighted, jfk).text) < 0.1
    assert orthogonality_error(model) < 1e-5  # orthonormal up to fp32 rounding
    # Without weights the folder keeps the counts, and the base + counts rebuild the same
    # factors; without the counts too it is refused. With weights it loads as any other.
    bare = save_lowrank(model, tmp_path / "bare", "tiny.en", weights=False)
    saved = read_lowrank_config(bare)
    assert saved["init"] == "token-weighted"
    assert len(saved["token_counts"]) == int((counts > 0).sum())
    rebuilt = load_lowrank(bare, _fresh_base(), "tiny.en")
    assert torch.equal(_logits(rebuilt, tiny, jfk), _logits(model, tiny, jfk))
    config_file = bare / CONFIG_FILE
    config_file.write_text(json.dumps({**saved, "token_counts": None}))
    with pytest.raises(CompressionError, match="neither weights nor the token counts"):
        load_lowrank(bare, _fresh_base(), "tiny.en")
    config_file.write_text(json.dumps({**saved, "token_counts": {"99999": 1}}))
    with pytest.raises(CompressionError, match="don't fit a 51864-token vocabulary"):
        load_lowrank(bare, _fresh_base(), "tiny.en")
    folder = save_lowrank(model, tmp_path / "full", "tiny.en")
    reloaded = load_lowrank(folder, _fresh_base(), "tiny.en")
    assert torch.equal(_logits(reloaded, tiny, jfk), _logits(model, tiny, jfk))


# ----------------------------------------------------------------------------- save and load


def test_save_and_reload_give_identical_logits(tiny, jfk, tmp_path):
    factorized = _copy(tiny, LowRankConfig(rank_fraction=0.25))
    model = factorized.model
    with torch.no_grad():  # stand in for training: weights that the SVD would not give
        for module in lowrank_modules(model).values():
            module.down.weight.add_(0.01 * torch.randn_like(module.down.weight))
        model.model.encoder.layers[0].self_attn.q_proj.weight.mul_(1.1)
    folder = save_lowrank(model, tmp_path / "fp32", "tiny.en")
    saved = read_lowrank_config(folder)
    assert saved["base_model"] == "tiny.en" and saved["ranks"] == [96]
    assert saved["params_after"] == TINY_QUARTER_PARAMS
    assert set(saved["modules"]) == set(lowrank_modules(model))
    reloaded = load_lowrank(folder, _fresh_base(), "tiny.en")
    expected = _logits(model, tiny, jfk)
    assert torch.equal(_logits(reloaded, tiny, jfk), expected)

    half = save_lowrank(model, tmp_path / "fp16", "tiny.en", dtype="fp16")
    size = (half / WEIGHTS_FILE).stat().st_size
    assert size < 0.55 * (folder / WEIGHTS_FILE).stat().st_size
    assert size < 70 * 2**20  # 31.3 M parameters in fp16: ~60 MiB
    from_half = _logits(load_lowrank(half, _fresh_base()), tiny, jfk)
    assert torch.allclose(from_half, expected, atol=0.05 * float(expected.abs().max()))


def test_a_checkpoint_for_another_base_is_refused_in_one_sentence(tiny, tmp_path):
    factorized = _copy(tiny, LowRankConfig(rank_fraction=0.25))
    folder = save_lowrank(factorized.model, tmp_path / "lowrank", "tiny.en")
    with pytest.raises(CompressionError, match="made for tiny.en, not base"):
        load_lowrank(folder, _fresh_base(), "base")
    from demo.asr.registry import get_whisper_model
    from demo.loaders import load_whisper_base

    base, _ = load_whisper_base(get_whisper_model("base"), "fp32", "cpu")
    with pytest.raises(CompressionError, match="doesn't fit this model") as error:
        load_lowrank(folder, base)  # no name given: the shapes tell
    assert "made for tiny.en" in str(error.value) and "\n" not in str(error.value)
    (folder / WEIGHTS_FILE).write_bytes(b"not a safetensors file")
    with pytest.raises(CompressionError, match="not a readable safetensors"):
        load_lowrank(folder, _fresh_base())
    (folder / CONFIG_FILE).write_text("{")
    with pytest.raises(CompressionError, match="not valid JSON"):
        load_lowrank(folder, _fresh_base())


def test_structure_only_folder_refuses_a_base_whose_svd_differs(tiny, tmp_path):
    factorized = _copy(tiny, LowRankConfig(rank=16, targets=("encoder.layers.0.fc1",)))
    folder = save_lowrank(factorized.model, tmp_path / "lowrank", "tiny.en", weights=False)
    assert not (folder / WEIGHTS_FILE).exists()
    rebuilt = load_lowrank(folder, _fresh_base(), "tiny.en")
    name = "model.encoder.layers.0.fc1"
    assert torch.equal(
        lowrank_modules(rebuilt)[name].down.weight,
        lowrank_modules(factorized.model)[name].down.weight,
    )
    other = _fresh_base()
    with torch.no_grad():
        other.model.encoder.layers[0].fc1.weight.add_(0.05 * torch.randn(1536, 384))
    with pytest.raises(CompressionError, match="SVD of model.encoder.layers.0.fc1"):
        load_lowrank(folder, other, "tiny.en")


# ----------------------------------------------------------------------------- in the app


def test_the_pipeline_app_and_compare_offer_a_low_rank_model(
    tiny, tmp_path, monkeypatch, jfk_path, jfk_text
):
    """Product path: a low-rank run folder is a compression choice beside quantization."""
    from dashboard import handlers as h
    from demo.metrics import wer
    from demo.models import ModelCache
    from demo.pipeline import PipelineOptions, run_pipeline

    run = tmp_path / "checkpoints" / "lowrank-tiny.en-full-rank"
    full_rank = _copy(tiny, LowRankConfig(rank_fraction=1.0))
    save_lowrank(full_rank.model, run / "lowrank", "tiny.en")
    result = run_pipeline(jfk_path, PipelineOptions(compression=str(run)), ModelCache(2))
    assert result.memory["asr"].quant == "fast-int8"  # the default applies after the factors
    assert wer(jfk_text, result.transcript) < 0.05
    monkeypatch.setenv("DEMO_CHECKPOINTS", str(tmp_path / "checkpoints"))
    (label,) = h.compression_choices("tiny.en")[1:]
    assert "low-rank" in label and h.compression_choices("base") == ["none"]
    out = h.transcribe_and_summarize({"audio": str(jfk_path), "compression": label})
    assert "ask not" in out["transcript"].lower()
    configs = h.add_config([], {"asr": "tiny.en", "quant": "dynamic-int8", "compression": label,
                                "summarizer": "extractive"})  # fmt: skip
    assert configs[0]["compression"] == label
    with pytest.raises(CompressionError, match="made from tiny.en"):
        run_pipeline(jfk_path, PipelineOptions(asr="base", compression=str(run)), ModelCache(1))
    with pytest.raises(CompressionError, match="bitsandbytes"):
        run_pipeline(jfk_path, PipelineOptions(quant="nf4", compression=str(run)), ModelCache(1))
