"""The Q-Former speech bridge on real parts: espeak-ng clips, the frozen Whisper tiny.en encoder
and decoder, and a Q-Former initialised from the bundled all-MiniLM-L6-v2."""

import copy
import json

import pytest
import torch
from spoken import SENTENCES, spoken_manifest

from demo.audio import load_audio, synthesize_speech
from demo.bridge.asr import BridgeForWhisper, transcribe_bridge
from demo.bridge.features import (
    CacheItem,
    CacheOptions,
    FeatureCache,
    encode_clips,
    encoder_frames,
    pad_features,
)
from demo.bridge.model import BridgeError, SpeechBridge, load_bridge, stg_labels
from demo.bridge.qformer import (
    from_minilm,
    generation_mask,
    segment_mask,
    segment_means,
    text_only_mask,
    text_tokenizer,
)
from demo.errors import DemoError

NUM_QUERIES = 8


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    rows = [{"text": text, "split": split} for text, split in SENTENCES]
    return spoken_manifest(tmp_path_factory.mktemp("bridge-corpus"), rows)


@pytest.fixture(scope="module")
def run(corpus, tmp_path_factory):
    """One pre-training step through the one training loop; builds the feature cache."""
    from training.loop import run_training
    from training.train_bridge import BridgeTask, BridgeTrainConfig

    config = BridgeTrainConfig(
        train=str(corpus),
        stage="pretrain",
        num_queries=NUM_QUERIES,
        max_steps=1,
        batch_size=4,
        eval_batch_size=2,
        max_new_tokens=8,
        device="cpu",
        output_dir=str(tmp_path_factory.mktemp("bridge-runs")),
        run_id="pretrain",
    )
    return run_training(config, BridgeTask())


@pytest.fixture(scope="module")
def cache(run):
    info = json.loads((run / "run.json").read_text())
    return FeatureCache.open(info["extra"]["feature_cache"])


@pytest.fixture(scope="module")
def whisper():
    from demo.models import ModelSpec, load_model

    return load_model(ModelSpec("asr", "tiny.en", "full"))


@pytest.fixture(scope="module")
def batch(cache):
    keys = cache.keys("train")
    features, mask = pad_features([cache.features(k) for k in keys])
    tokens = text_tokenizer()([cache.text(k) for k in keys], padding=True, return_tensors="pt")
    return features, mask, tokens.input_ids, tokens.attention_mask


def test_training_run_records_the_bridge(run, cache):
    info = json.loads((run / "run.json").read_text())
    assert (
        info["system"] == "qformer"
        and info["method"] == "qformer"
        and info["status"] == "completed"
    )
    assert info["extra"]["num_queries"] == NUM_QUERIES and info["extra"]["encoder_width"] == 384
    # The unmodified Whisper (the upper bound) transcribes espeak-ng's clear speech well.
    assert info["extra"]["whisper_wer"] < 0.3
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [0, 1]
    for key in ("loss_stcl", "loss_stm", "loss_stg", "r_at_1", "stm_accuracy", "wer"):
        assert key in lines[-1], key
    assert 0.0 <= lines[-1]["minilm_similarity"] <= 1.0
    assert (run / "bridge" / "bridge.safetensors").is_file()
    assert len(cache.keys("train")) == 4 and len(cache.keys("validation")) == 2


def test_text_path_is_minilm_and_query_ffn_copies_text_ffn():
    from demo.embeddings import load_encoder

    tokenizer, minilm = load_encoder()
    qformer = from_minilm(encoder_width=384, num_queries=NUM_QUERIES).eval()
    tokens = tokenizer(["a short sentence", "speech goes in, text comes out"], padding=True,
                       return_tensors="pt")  # fmt: skip
    with torch.no_grad():
        expected = minilm(**tokens).last_hidden_state
        got = qformer(None, tokens.input_ids, text_only_mask(tokens.attention_mask))
    assert torch.allclose(got, expected, atol=1e-4)
    for i, layer in enumerate(qformer.layers):
        assert torch.equal(layer.query_ffn.up.weight, layer.text_ffn.up.weight)
        has_cross = layer.cross_attention is not None
        assert has_cross == (i % 2 == 0)
        if has_cross:
            assert layer.cross_attention.key.in_features == 384


def test_generation_mask_queries_see_queries_text_sees_the_past():
    text_mask = torch.tensor([[1, 1, 1, 0]])
    mask = generation_mask(2, text_mask)[0]
    assert mask[:2, :2].all() and not mask[:2, 2:].any()  # queries: only queries
    assert mask[2:, :2].all()  # text: every query
    assert mask[3, 2] and mask[3, 3] and not mask[3, 4]  # earlier text and itself, not later
    assert not mask[:, 5].any()  # padding is seen by no one

    # In the model: changing text token 3 changes nothing before it, queries included.
    torch.manual_seed(0)
    bridge = SpeechBridge.from_minilm("tiny.en", 384, 2, dropout=0.0).eval()
    speech, speech_mask = torch.randn(1, 20, 384), torch.ones(1, 20, dtype=torch.bool)
    ids = torch.tensor([[1, 2003, 2017, 2024, 102]])
    other = ids.clone()
    other[0, 3] = 3000
    full = torch.ones_like(ids)
    queries = bridge.queries
    with torch.no_grad():
        a = bridge.qformer(queries, ids, generation_mask(2, full), speech, speech_mask)
        b = bridge.qformer(queries, other, generation_mask(2, full), speech, speech_mask)
    assert torch.allclose(a[:, : 2 + 3], b[:, : 2 + 3], atol=1e-6)
    assert not torch.allclose(a[:, 2 + 3 :], b[:, 2 + 3 :], atol=1e-3)


def test_features_are_trimmed_to_the_audio_and_padding_is_masked(corpus, cache, whisper):
    key = cache.keys("train")[0]
    audio = load_audio(corpus.parent / "0.wav")
    stored = cache.features(key)
    assert stored.shape == (encoder_frames(len(audio), 10), 384) and stored.shape[0] < 1500
    fresh, mask = encode_clips(whisper.model, whisper.processor, [audio])
    assert mask.all() and torch.allclose(stored, fresh[0], atol=2e-2)  # stored as float16

    bridge = SpeechBridge.from_minilm("tiny.en", 384, NUM_QUERIES, dropout=0.0).eval()
    short, long = cache.features(cache.keys("train")[1]), stored
    padded, padded_mask = pad_features([short, long])
    assert padded_mask.sum(dim=1).tolist() == [short.shape[0], long.shape[0]]
    with torch.no_grad():
        alone = bridge.query_states(short[None], torch.ones(1, short.shape[0], dtype=torch.bool))
        together = bridge.query_states(padded, padded_mask)
    assert together.shape == (2, NUM_QUERIES, 384)
    assert torch.allclose(alone[0], together[0], atol=1e-5)


def test_a_cache_beside_another_copies_its_clips_instead_of_encoding(
    corpus, cache, whisper, monkeypatch
):
    from demo.bridge import features

    encoded = []
    real_encode = features.encode
    monkeypatch.setattr(
        features,
        "encode",
        lambda w, p, audios: encoded.append(len(audios)) or real_encode(w, p, audios),
    )
    new = corpus.parent / "new.wav"
    synthesize_speech("A new sentence nobody encoded.", new)
    items = [
        CacheItem(f"clip-{i}", str(corpus.parent / f"{i}.wav"), text, split)
        for i, (text, split) in enumerate(SENTENCES)
    ] + [CacheItem("new", str(new), "A new sentence nobody encoded.", "validation")]
    options = CacheOptions(
        margin_frames=cache.index["margin_frames"],
        dtype=cache.index["dtype"],
        reference_splits=("validation",),
    )
    build = (whisper.model, whisper.processor, "tiny.en")
    sibling = FeatureCache.build(cache.folder.parent / "sibling", items, *build, options)
    assert encoded == [1]  # only the new clip went through the encoder
    assert sibling.reference_text("new")  # and it got plain Whisper's transcript
    by_text = {cache.text(k): k for k in cache.keys()}
    for i, (text, _) in enumerate(SENTENCES):
        ours, theirs = f"clip-{i}", by_text[text]
        assert torch.equal(sibling.features(ours), cache.features(theirs))
        assert sibling.reference_text(ours) == cache.reference_text(theirs)
        assert sibling.rows[ours]["frames"] == cache.rows[theirs]["frames"]

    encoded.clear()  # another margin changes every clip's features: nothing is shared
    wider = CacheOptions(margin_frames=options.margin_frames + 2, dtype=options.dtype)
    FeatureCache.build(cache.folder.parent / "wider", items, *build, wider)
    assert sum(encoded) == len(items)


@pytest.mark.parametrize("objective", ["stcl", "stm", "stg"])
def test_each_loss_decreases(run, batch, objective):
    bridge = load_bridge(run / "bridge", encoder="tiny.en")
    bridge.eval()  # no dropout and the hardest negatives: the same loss every call
    # Small steps: a first Adam step of 1e-4 on every weight overshoots the contrastive loss.
    optimizer = torch.optim.AdamW(bridge.parameters(), lr=1e-5)
    seen = []
    for _ in range(4):
        out = bridge(*batch, objectives=(objective,), measure=(objective,))
        seen.append(out.losses[objective].item())
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    assert seen[-1] < seen[0], seen


def test_trained_bridge_saves_and_reloads_with_identical_outputs(run, batch, tmp_path):
    bridge = load_bridge(run / "bridge", encoder="tiny.en")
    bridge.save(tmp_path / "copy")
    config = json.loads((tmp_path / "copy" / "bridge.json").read_text())
    assert (config["encoder"], config["encoder_width"]) == ("tiny.en", 384)
    assert (config["num_queries"], config["num_layers"]) == (NUM_QUERIES, 6)
    again = load_bridge(tmp_path / "copy", encoder="tiny.en")
    fresh = SpeechBridge.from_minilm("tiny.en", 384, NUM_QUERIES).eval()
    with torch.no_grad():
        a, b, c = (m(*batch) for m in (bridge, again, fresh))
    assert torch.equal(a.logits, b.logits) and a.metrics == b.metrics
    assert not torch.allclose(a.logits, c.logits)  # the trained weights, not a fresh init


def test_bridge_for_another_encoder_is_refused_in_one_sentence(tmp_path, batch):
    SpeechBridge.from_minilm("base", 512, 4).save(tmp_path / "base-bridge")
    with pytest.raises(BridgeError) as caught:
        load_bridge(tmp_path / "base-bridge", encoder="tiny.en")
    message = str(caught.value)
    assert "base" in message and "tiny.en" in message
    assert message.endswith(".") and message.count(". ") == 0
    bridge = load_bridge(tmp_path / "base-bridge")
    with pytest.raises(DemoError, match="512"):
        bridge.query_states(batch[0], batch[1])  # 384-wide tiny.en features


def test_bottleneck_asr_trains_transcribes_and_scores(run, cache, whisper, batch, corpus, tmp_path):
    whisper_model = copy.deepcopy(whisper.model)
    before = {n: p.clone() for n, p in whisper_model.named_parameters()}
    model = BridgeForWhisper(load_bridge(run / "bridge", encoder="tiny.en"), whisper_model)
    tokenizer = whisper.processor.tokenizer
    ids = [tokenizer(cache.text(k)).input_ids[1:] for k in cache.keys("train")]
    labels = torch.full((len(ids), max(map(len, ids))), -100)
    for i, row in enumerate(ids):
        labels[i, : len(row)] = torch.tensor(row)
    features, mask = batch[0], batch[1]
    assert model.memory(features, mask).shape == (4, NUM_QUERIES, 384)
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert sum(p.numel() for p in trainable) == sum(p.numel() for p in model.bridge.parameters())
    optimizer = torch.optim.AdamW(trainable, lr=1e-3)
    model.train()
    seen = []
    for _ in range(4):
        loss = model(features, mask, labels=labels).loss
        seen.append(loss.item())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    assert seen[-1] < seen[0], seen
    assert all(torch.equal(p, before[n]) for n, p in whisper_model.named_parameters())
    texts = transcribe_bridge(
        model.bridge, whisper_model, whisper.processor, features, mask, max_new_tokens=12
    )
    assert len(texts) == 4 and any(t.strip() for t in texts)
    guarded = transcribe_bridge(
        model.bridge, whisper_model, whisper.processor, features, mask, max_new_tokens=12,
        no_repeat_ngram=1,
    )  # fmt: skip
    assert all(len(set(t.split())) == len(t.split()) for t in guarded), guarded  # no token twice
    # The decoder reads the queries: other speech gives other next-token scores.
    model.eval()
    with torch.no_grad():
        real = model(features, mask, labels=labels).logits
        noise = model(torch.randn_like(features), mask, labels=labels).logits
    assert not torch.allclose(real, noise, atol=1e-3)

    from training.eval_bridge import main

    model.bridge.save(tmp_path / "asr-bridge")
    out = tmp_path / "bench" / "scores.json"  # where the dashboard reads result files
    argv = ["--manifest", str(corpus), "--split", "validation", "--max-new-tokens", "8"]
    assert main([*argv, "--bridges", str(tmp_path / "asr-bridge"), "--out", str(out)]) == 0
    bridge_row, whisper_row = json.loads(out.read_text())["rows"]
    assert (bridge_row["num_queries"], bridge_row["clips"]) == (NUM_QUERIES, 2)
    assert whisper_row["num_queries"] is None and whisper_row["wer"] < bridge_row["wer"]
    # Its cost: every parameter of the bridge trains; decoding timed from cached features.
    assert bridge_row["params"] == sum(p.numel() for p in model.bridge.parameters())
    assert bridge_row["weights_mb"] > 0 and bridge_row["s_per_clip"] > 0
    assert whisper_row["s_per_clip"] is None  # its transcripts come from the cache
    assert main([*argv, "--bridges", str(tmp_path / "asr-bridge"), "--no-repeat-ngram", "-1"]) == 2
    # The training-free baseline: the real decoder reading the real frames pooled to N, merged
    # into the table above (the same clips: the same Whisper row).
    pooled = [*argv, "--encoder", "tiny.en", "--pooled", "1", "200", "--out", str(out)]
    assert main([*pooled, "--merge"]) == 0
    data = json.loads(out.read_text())
    kept, one, many, whisper_again = data["rows"]
    assert kept == bridge_row and len(data["commands"]) == 2
    assert (one["kind"], one["num_queries"], many["num_queries"]) == ("pooled", 1, 200)
    assert one["params"] == 0 and whisper_again == whisper_row
    from results.bench_files import load_bench

    assert load_bench(tmp_path) == (data["rows"], [])  # every row reaches the bridge chart
    assert many["minilm_similarity"] > one["minilm_similarity"]  # more frames carry more speech
    assert main([*argv, "--pooled", "8"]) == 2  # no bridge names the encoder


def test_merged_bridge_table_keeps_earlier_rows_only_on_the_same_clips():
    from training.eval_bridge import merge_rows

    whisper = {"system": "whisper tiny.en", "kind": "whisper", "num_queries": None,
               "split": "test", "clips": 60, "wer": 0.85, "cer": 0.5}  # fmt: skip
    q8 = {"system": "q8", "kind": "bridge", "num_queries": 8, "wer": 1.9}
    q32_old = {"system": "q32", "kind": "bridge", "num_queries": 32, "wer": 0.7}
    q32_new = {**q32_old, "wer": 0.6}
    pooled = {"system": "pooled 8", "kind": "pooled", "num_queries": 8, "wer": 2.3}
    q100 = {"system": "q100", "kind": "bridge", "num_queries": 100, "wer": 0.5}
    merged = merge_rows([q100, q32_new, whisper], [q8, q32_old, pooled, whisper])
    assert merged == [q8, q32_new, q100, pooled, whisper]  # a system scored again: the new row
    with pytest.raises(ValueError, match="other clips"):
        merge_rows([q100, {**whisper, "clips": 59}], [q8, whisper])
    with pytest.raises(ValueError, match="other clips"):
        merge_rows([q100, whisper], [q8])  # an earlier table without its Whisper row


def test_stg_labels_are_the_next_tokens():
    ids = torch.tensor([[101, 7, 8, 102, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 0]])
    assert stg_labels(ids, mask).tolist() == [[7, 8, 102, -100]]


def test_segments_cover_each_clip_in_order_and_never_the_padding():
    lengths = [10, 4, 1]
    mask = torch.zeros(3, 10, dtype=torch.bool)
    for i, n in enumerate(lengths):
        mask[i, :n] = True
    alone = segment_mask(mask, 4, overlap=0)
    assert alone.shape == (3, 4, 10)
    assert (alone.sum(dim=-1) >= 1).all()  # a query has a frame even when a clip has fewer
    assert not (alone & ~mask[:, None, :]).any()  # padding is never read
    # Without overlap the segments of a long clip tile it once, in order.
    assert alone[0].sum(dim=0).tolist() == [1] * 10
    firsts = alone[0].float().argmax(dim=-1).tolist()
    assert firsts == sorted(firsts) and firsts[0] == 0
    wider = segment_mask(mask, 4, overlap=1)
    assert (wider >= alone).all() and wider[0].sum() == alone[0].sum() + 6  # 2 per inner edge
    features = torch.arange(10, dtype=torch.float)[None, :, None].expand(3, 10, 2)
    means = segment_means(features, mask, 4)
    assert means[0, :, 0].tolist() == [0.5, 3.0, 5.5, 8.0]  # frames 0-1, 2-4, 5-6, 7-9


def test_segment_bridge_reads_locally_and_its_shortcut_starts_at_the_pooled_frames(batch, tmp_path):
    features, mask = batch[0], batch[1]
    bridge = SpeechBridge.from_minilm(
        "tiny.en", 384, NUM_QUERIES, dropout=0.0, segments=True, segment_overlap=0, shortcut=True
    ).eval()
    bridge.add_head("whisper", 384)
    with torch.no_grad():
        memory = bridge.project("whisper", features, mask)
        # Before training the frozen decoder reads the speech pooled to Nq frames.
        assert torch.allclose(memory, segment_means(features, mask, NUM_QUERIES), atol=1e-6)
        # Every cross-attention layer gets the segment mask: query i reads segment i only.
        seen = []
        hooks = [
            layer.cross_attention.register_forward_pre_hook(lambda _m, args: seen.append(args[2]))
            for layer in bridge.qformer.layers
            if layer.cross_attention is not None
        ]
        bridge.query_states(features, mask)
        for hook in hooks:
            hook.remove()
    assert len(seen) == 3  # layers 0, 2 and 4
    expected = segment_mask(mask, NUM_QUERIES, 0)[:, None]
    assert all(torch.equal(m, expected) for m in seen)
    bridge.save(tmp_path / "segments")
    config = json.loads((tmp_path / "segments" / "bridge.json").read_text())
    assert config["shortcut"] is True and config["qformer"]["segments"] is True
    again = load_bridge(tmp_path / "segments", encoder="tiny.en")
    with torch.no_grad():
        assert torch.equal(again.project("whisper", features, mask), memory)
    # A bridge saved before these options existed loads as the global, shortcut-free one.
    for key in ("shortcut",):
        config.pop(key)
    for key in ("segments", "segment_overlap"):
        config["qformer"].pop(key)
    (tmp_path / "segments" / "bridge.json").write_text(json.dumps(config))
    old = load_bridge(tmp_path / "segments", encoder="tiny.en")
    assert not old.config.shortcut and not old.config.qformer.segments
