"""Low-rank Whisper v2's training options: distillation from a fine-tuned teacher
(``--distill-from``), general-English token weights (``--lowrank-token-source``) and seeds.

The loss tests use a tiny random Whisper pair (the test is about the loss plumbing, not the
weights); the run and the token counts use the real tiny.en weights and tokenizer."""

import copy
import json
import math
from importlib.util import find_spec
from pathlib import Path

import pytest
import torch
from loaded_models import cpu_model
from training_helpers import spoken_manifest

from demo.compress.lowrank_io import read_lowrank_config

SENTENCES = [
    "the american farmer carried a wooden chair near the river",
    "my younger sister painted the red bicycle in the kitchen",
    "a tired doctor found some fresh bread at the market",
]

tiny = cpu_model("tiny", "asr", "tiny.en", "fp32")
needs_wordfreq = pytest.mark.skipif(
    find_spec("wordfreq") is None,
    reason="wordfreq is not installed: pip install wordfreq==3.1.1 (requirements-corpus.txt)",
)


def _tiny_whisper(vocab: int = 64, seed: int = 0):
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    torch.manual_seed(seed)
    config = WhisperConfig(
        vocab_size=vocab, d_model=16, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
        decoder_ffn_dim=32, num_mel_bins=8, max_source_positions=8, max_target_positions=16,
        decoder_start_token_id=1, pad_token_id=0, eos_token_id=2, bos_token_id=2,
    )  # fmt: skip
    return WhisperForConditionalGeneration(config).eval()


def _batch(vocab: int = 64):
    generator = torch.Generator().manual_seed(1)
    labels = torch.randint(3, vocab, (2, 5), generator=generator)
    labels[1, 3:] = -100  # padding, as the collator leaves it
    return {"input_features": torch.randn(2, 8, 16, generator=generator), "labels": labels}


def test_the_distillation_loss_is_the_hand_computed_mix_of_ce_and_kl():
    from training.distill import Distillation, distillation_loss

    student, teacher = _tiny_whisper(seed=0), _tiny_whisper(seed=1)
    batch = _batch()
    weight, temperature = 0.3, 2.0
    loss = Distillation(teacher, weight, temperature)(student, batch)
    # By hand: every labelled position, sum_v p_t (log p_t - log p_s) at temperature T.
    with torch.no_grad():
        s, t = student(**batch), teacher(**batch)
    total, positions = 0.0, 0
    for b in range(2):
        for i in range(5):
            if batch["labels"][b, i] == -100:
                continue
            p_t = torch.softmax(t.logits[b, i].double() / temperature, -1)
            p_s = torch.softmax(s.logits[b, i].double() / temperature, -1)
            total += float((p_t * (p_t.log() - p_s.log())).sum())
            positions += 1
    assert positions == 8
    kl = total / positions
    expected = (1 - weight) * float(s.loss) + weight * temperature**2 * kl
    assert kl > 0 and float(loss.detach()) == pytest.approx(expected, rel=1e-5)
    # Gradients reach the student only; the teacher stays frozen.
    loss.backward()
    assert student.proj_out.weight.grad is not None
    assert all(p.grad is None for p in teacher.parameters())
    # Weight 0 is plain cross-entropy, exactly (the teacher is not even run).
    student.zero_grad()
    plain = Distillation(teacher, 0.0, temperature)(student, batch)
    assert torch.equal(plain, student(**batch).loss)
    ce = torch.tensor(1.25)
    assert distillation_loss(ce, None, None, None, 0.0, 2.0)[0] is ce


def test_a_teacher_with_another_vocabulary_is_refused(tmp_path):
    from training.distill import load_teacher, teacher_files, weights_sha256

    other = _tiny_whisper(vocab=100)
    other.save_pretrained(tmp_path / "other", safe_serialization=True)
    with pytest.raises(ValueError, match="not a Whisper model with the student's 64-token"):
        load_teacher(tmp_path / "other", _tiny_whisper().config, None, "cpu")
    teacher = load_teacher(tmp_path / "other", other.config, None, "cpu")
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    files = teacher_files(tmp_path / "other")
    assert len(weights_sha256(files)) == 64 and weights_sha256(files) == weights_sha256(files)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    """3 espeak-ng clips: 2 train, 1 validation."""
    return spoken_manifest(tmp_path_factory.mktemp("distill-speech"), SENTENCES, 2)


def _teacher() -> str:
    from demo.asr.registry import get_whisper_model, whisper_source

    return whisper_source(get_whisper_model("tiny.en"))  # the bundled base, in safetensors


@needs_wordfreq
def test_a_low_rank_run_distils_from_a_teacher_and_records_it(manifest, tmp_path):
    from demo.models import load_lowrank_whisper
    from training.distill import teacher_files, weights_sha256
    from training.train_asr import main

    teacher = _teacher()
    argv = [
        "--train", str(manifest), "--output-dir", str(tmp_path), "--max-steps", "2",
        "--batch-size", "1", "--max-new-tokens", "8", "--device", "cpu",
        "--no-eval-real-speech", "--method", "full", "--compress", "lowrank",
        "--compress-targets", "proj_out", "--lowrank-rank", "272", "--lowrank-init",
        "activation-aware", "--lowrank-calibration-clips", "2", "--lowrank-token-source",
        "train+wordfreq", "--lowrank-wordfreq-words", "2000", "--factor-lr-scale", "0.1",
        "--distill-from", teacher, "--run-id", "distilled", "--seed", "1",
    ]  # fmt: skip
    assert main(argv) == 0
    run = tmp_path / "distilled"
    info = json.loads((run / "run.json").read_text())
    config = info["config"]
    assert config["distill_from"] == teacher and config["seed"] == 1
    assert config["distill_weight"] == 0.5 and config["distill_temperature"] == 2.0
    distill = info["extra"]["distill"]
    assert distill["teacher"] == teacher
    assert distill["teacher_sha256"] == weights_sha256(teacher_files(teacher))
    source = info["extra"]["lowrank"]["token_source"]
    assert source["source"] == "train+wordfreq" and source["wordfreq_words"] == 2000
    # The metrics line after training carries the objective's parts, the loss stays CE.
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    trained = lines[-1]
    assert trained["train_kl"] > 0 and trained["train_ce"] > 0
    assert trained["train_loss"] == pytest.approx(0.5 * trained["train_ce"] + 0.5 * 4 * trained[
        "train_kl"], rel=1e-4)  # fmt: skip
    saved = read_lowrank_config(run / "lowrank")
    assert saved["token_source"] == source
    assert isinstance(next(iter(saved["token_counts"].values())), float)
    assert load_lowrank_whisper(run, quant="fp32", device="cpu").model is not None
    # The report names what the arm used, so seeds and options stay apart in its tables.
    from results.runs import arm_name, list_runs

    (listed,) = list_runs(tmp_path)
    assert arm_name(listed).endswith(
        ", train+wordfreq token weights, distilled (0.5 of the loss), seed 1"
    )


@needs_wordfreq
def test_general_english_adds_a_stated_share_of_the_token_mass(tiny):
    from training.config import AsrConfig
    from training.token_sources import DECIMALS, token_counts

    tokenizer = tiny.processor.tokenizer
    ids = [tokenizer(text).input_ids for text in SENTENCES]
    flags = {"train": "m.jsonl", "compress": "lowrank", "lowrank_init": "token-weighted"}
    train, record = token_counts(AsrConfig(**flags), ids, tokenizer, 51864)
    mass = sum(len(one) for one in ids)  # every transcript token, prompt and end included
    assert train.dtype == torch.long and record == {"source": "train", "train_mass": mass}
    config = AsrConfig(**flags, lowrank_token_source="train+wordfreq",
                       lowrank_wordfreq_words=5000, lowrank_wordfreq_share=0.25)  # fmt: skip
    counts, record = token_counts(config, ids, tokenizer, 51864)
    added = counts - train
    assert bool((added >= 0).all()) and record["source"] == "train+wordfreq"
    # A quarter of the combined mass: a third of the transcripts' mass added (each token's
    # share rounded to 4 places: the tail of 17k tokens moves the sum by under 1%).
    expected = mass * 0.25 / 0.75
    assert float(added.sum()) == pytest.approx(expected, rel=1e-2)
    assert record["wordfreq_mass"] == pytest.approx(float(added.sum()), abs=1e-4)
    unused = train == 0  # where nothing was added to: the rounded share itself
    assert torch.equal(added[unused], torch.round(added[unused], decimals=DECIMALS))
    the = tokenizer(" the", add_special_tokens=False).input_ids[0]
    assert int(added.argmax()) == the  # the commonest English word, with a leading space
    # Its share: its frequency over the frequency-weighted token count of the 5000 words.
    import wordfreq

    words = wordfreq.top_n_list("en", 5000)
    lengths = tokenizer([" " + w for w in words], add_special_tokens=False).input_ids
    total = sum(
        wordfreq.word_frequency(w, "en") * len(t) for w, t in zip(words, lengths, strict=True)
    )
    share = wordfreq.word_frequency("the", "en") / total
    assert float(added[the]) == pytest.approx(expected * share, abs=1e-4)
    # "American": the training transcripts say " american" once; cased, " American" gets mass.
    capital = tokenizer(" American", add_special_tokens=False).input_ids
    assert len(capital) == 1 and added[capital[0]] == 0
    cased = AsrConfig(**{**flags, "lowrank_token_source": "train+wordfreq-cased"})
    assert token_counts(cased, ids, tokenizer, 51864)[0][capital[0]] > 0


@needs_wordfreq
def test_general_english_counts_are_saved_and_rebuild_the_same_factors(tiny, tmp_path):
    from demo.compress.lowrank import LowRankConfig, factorization_of, factorize, lowrank_modules
    from demo.compress.lowrank_io import load_lowrank, save_lowrank
    from training.config import AsrConfig
    from training.token_sources import token_counts

    tokenizer = tiny.processor.tokenizer
    ids = [tokenizer(text).input_ids for text in SENTENCES]
    flags = {"train": "m.jsonl", "compress": "lowrank", "lowrank_init": "token-weighted"}
    config = AsrConfig(**flags, lowrank_token_source="train+wordfreq", lowrank_wordfreq_words=3000)
    counts, source = token_counts(config, ids, tokenizer, 51864)
    low = LowRankConfig(targets=("proj_out",), rank=272, init="token-weighted")
    model, _ = factorize(copy.deepcopy(tiny.model), low, counts, None, source)
    save_lowrank(model, tmp_path / "lowrank", "tiny.en", weights=False)
    saved = read_lowrank_config(tmp_path)
    assert saved["token_source"]["source"] == "train+wordfreq" and saved["weights"] is None
    again = load_lowrank(tmp_path, copy.deepcopy(tiny.model), "tiny.en")  # fingerprints checked
    assert factorization_of(again).token_source == source
    (first,), (second,) = lowrank_modules(model).values(), lowrank_modules(again).values()
    assert torch.equal(first.down.weight, second.down.weight)
    assert torch.equal(first.up.weight, second.up.weight)
    # The train-only start makes other factors from the same transcripts.
    train_only = token_counts(AsrConfig(**flags), ids, tokenizer, 51864)[0]
    plain, _ = factorize(copy.deepcopy(tiny.model), low, train_only)
    assert not torch.equal(
        next(iter(lowrank_modules(plain).values())).down.weight, first.down.weight
    )


def test_the_seed_changes_the_data_order_and_not_the_rows():
    from training.session import EpochSampler

    orders = [list(EpochSampler(40, seed, shuffle=True)) for seed in (0, 1, 0)]
    assert orders[0] == orders[2] != orders[1] and sorted(orders[1]) == list(range(40))


@pytest.mark.parametrize(
    ("flags", "sentence"),
    [
        (["--distill-weight", "0.3"], "need a teacher: add --distill-from"),
        (["--distill-from", "{teacher}", "--distill-weight", "1.5"], "must be between 0 and 1"),
        (["--distill-from", "{missing}"], "no such folder"),
        (["--distill-from", "{empty}"], "holds no config.json and *.safetensors"),
        (["--distill-from", "{teacher}", "--distill-temperature", "0"], "must be above 0"),
        (["--compress", "lowrank", "--lowrank-token-source", "news"], "must be one of train"),
        (["--lowrank-token-source", "train+wordfreq"], "token-weighted or activation-aware"),
        (
            [
                "--compress",
                "lowrank",
                "--lowrank-init",
                "token-weighted",
                "--lowrank-wordfreq-share",
                "1",
            ],
            "above 0 and below 1",
        ),  # fmt: skip
    ],
)
def test_bad_flags_give_one_sentence(flags, sentence, tmp_path, capsys):
    from training.train_asr import main

    (tmp_path / "empty").mkdir()
    where = {"teacher": _teacher(), "missing": tmp_path / "nope", "empty": tmp_path / "empty"}
    flags = [f.format(**where) for f in flags]
    assert main(["--train", str(tmp_path / "m.jsonl"), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and sentence in err and "\n" not in err


def test_without_wordfreq_the_source_names_its_install_command(tiny, monkeypatch):
    import builtins

    from training.config import AsrConfig
    from training.token_sources import token_counts

    real = builtins.__import__

    def no_wordfreq(name, *args, **kwargs):
        if name == "wordfreq":
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_wordfreq)
    config = AsrConfig(train="m.jsonl", compress="lowrank", lowrank_init="token-weighted",
                       lowrank_token_source="train+wordfreq")  # fmt: skip
    with pytest.raises(ValueError, match=r"pip install wordfreq==3\.1\.1"):
        token_counts(config, [[1, 2]], tiny.processor.tokenizer, 51864)
    assert math.isclose(config.lowrank_wordfreq_share, 0.5)


@needs_wordfreq
def test_the_probe_scores_each_token_source(manifest, tmp_path):
    """bench.lowrank_probe --token-sources: each split once per source, beside the original."""
    from bench import lowrank_probe

    out = tmp_path / "bench"
    lowrank_probe.main(["--model", "tiny.en", "--manifest", str(manifest), "--splits",
                        "proj_out:272", "--token-sources", "train", "train+wordfreq",
                        "--wordfreq-words", "2000", "--calibration-clips", "2", "--out", str(out),
                        "--real-speech-manifest", str(tmp_path / "not-built.jsonl")])  # fmt: skip
    rows = json.loads((out / "lowrank-probe.json").read_text())["rows"]
    assert [(r["split"], r["token_source"]) for r in rows] == [
        ("original", None), ("proj_out:272", "train"), ("proj_out:272", "train+wordfreq")
    ]  # fmt: skip
    assert rows[1]["params"] == rows[2]["params"] < rows[0]["params"]
    assert rows[1]["validation_loss"] != rows[2]["validation_loss"]  # other factors
    assert "train+wordfreq tokens" in rows[2]["config"]


def test_the_research_systems_built_on_the_asr_config_take_no_teacher():
    from training.train_bridge import BridgeTrainConfig
    from training.train_latent import LatentAsrConfig

    with pytest.raises(ValueError, match="this run type takes no teacher"):
        BridgeTrainConfig(train="m.jsonl", distill_from="checkpoints/x")
    with pytest.raises(ValueError, match="distils from the original decoder itself"):
        LatentAsrConfig(train="m.jsonl", latent=64, distill_from="checkpoints/x")
    latent = LatentAsrConfig(train="m.jsonl", latent=64)  # its own weight, no teacher folder
    assert latent.distill_weight == 0.5 and latent.distill_from is None


def test_a_resume_with_other_teacher_weights_is_refused():
    from training.loop import _same_objective
    from training.objective import Objective
    from training.session import TrainingError

    started = {"distill": {"teacher": "t", "teacher_sha256": "aa"}}
    _same_objective(started, Objective(loss=None, run_extra=started))  # the same: goes on
    _same_objective({}, None)  # no objective then or now
    other = Objective(loss=None, run_extra={"distill": {"teacher": "t", "teacher_sha256": "bb"}})
    with pytest.raises(TrainingError, match="started with another distill setup"):
        _same_objective(started, other)
