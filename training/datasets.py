"""Map-style datasets and collators: checked rows (``training.data``) in, model batches out.

Features are computed when an item is read: log-mel spectrograms for Whisper, token ids for
the summarizers (a chat LM's items are the app's own prompt followed by the summary, the loss
on the summary only). Collators pad a batch and keep the reference texts for scoring.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from training.data import IGNORE_INDEX, SpeechExample, TextPair


class SpeechDataset:
    """Map-style dataset: decodes audio and computes log-mel features when an item is read."""

    def __init__(self, examples: list[SpeechExample], processor, max_label_tokens: int) -> None:
        self.examples = examples
        self.processor = processor
        self.max_label_tokens = max_label_tokens

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        from demo.audio import SAMPLE_RATE, load_audio

        example = self.examples[index]
        audio = load_audio(example.audio)
        features = self.processor.feature_extractor(audio, sampling_rate=SAMPLE_RATE)
        labels = self.processor.tokenizer(example.text).input_ids
        if len(labels) > self.max_label_tokens:
            labels = labels[: self.max_label_tokens - 1] + labels[-1:]  # keep end-of-text
        return {
            "input_features": features.input_features[0],
            "labels": labels,
            "text": example.text,
        }


@dataclass
class SpeechCollator:
    """Stack features, pad labels with -100, and drop the start token the model adds itself."""

    processor: Any
    decoder_start_token_id: int

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        import numpy as np
        import torch

        features = torch.from_numpy(np.stack([item["input_features"] for item in items]))
        labels = pad_labels([item["labels"] for item in items])
        if bool((labels[:, 0] == self.decoder_start_token_id).all()):
            labels = labels[:, 1:]
        return {
            "input_features": features,
            "labels": labels,
            "references": [item["text"] for item in items],
        }


class SummaryDataset:
    """Map-style dataset of (document, summary) tokenized when an item is read."""

    def __init__(
        self, pairs: list[TextPair], tokenizer, prefix: str, max_source: int, max_target: int
    ):
        self.pairs = pairs
        self.tokenizer = tokenizer
        self.prefix = prefix
        self.max_source = max_source
        self.max_target = max_target

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        pair = self.pairs[index]
        source = self.tokenizer(
            self.prefix + pair.text, truncation=True, max_length=self.max_source
        ).input_ids
        target = self.tokenizer(
            text_target=pair.summary, truncation=True, max_length=self.max_target
        ).input_ids
        return {"input_ids": source, "labels": target, "text": pair.summary}


@dataclass
class SummaryCollator:
    """Pad documents with the pad token (and an attention mask), labels with -100."""

    pad_token_id: int

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        longest = max(len(item["input_ids"]) for item in items)
        input_ids = torch.full((len(items), longest), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(items), longest), dtype=torch.long)
        for i, item in enumerate(items):
            input_ids[i, : len(item["input_ids"])] = torch.tensor(item["input_ids"])
            mask[i, : len(item["input_ids"])] = 1
        return {
            "input_ids": input_ids,
            "attention_mask": mask,
            "labels": pad_labels([item["labels"] for item in items]),
            "references": [item["text"] for item in items],
        }


def pad_labels(sequences: list[list[int]]):
    import torch

    longest = max(len(s) for s in sequences)
    labels = torch.full((len(sequences), longest), IGNORE_INDEX, dtype=torch.long)
    for i, sequence in enumerate(sequences):
        labels[i, : len(sequence)] = torch.tensor(sequence, dtype=torch.long)
    return labels


class PromptSummaryDataset:
    """Causal-LM examples: the inference prompt (``demo.summarize.llm``), then summary + eos.

    The prompt is the one the app sends (chat template, the default length request), so a
    fine-tuned model is trained on exactly what it will be asked; the loss covers only the
    summary and the end of turn (labels -100 on the prompt). ``SummaryCollator`` batches them:
    right padding, labels -100 on padding.
    """

    def __init__(self, pairs: list[TextPair], tokenizer, entry, max_source: int, max_target: int):
        self.pairs, self.tokenizer, self.entry = pairs, tokenizer, entry
        self.max_source, self.max_target = max_source, max_target

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        from demo.summarize.llm import prompt_ids

        pair, tok = self.pairs[index], self.tokenizer
        document = tok(pair.text, add_special_tokens=False).input_ids
        text = (
            tok.decode(document[: self.max_source])
            if len(document) > self.max_source
            else pair.text
        )
        prompt = prompt_ids(tok, self.entry, text)
        target = tok(pair.summary, add_special_tokens=False).input_ids[: self.max_target]
        target = target + [tok.eos_token_id]
        return {
            "input_ids": prompt + target,
            "labels": [IGNORE_INDEX] * len(prompt) + target,
            "text": pair.summary,
        }
