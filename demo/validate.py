"""One check of a configuration, whoever sends it: the app's widgets, an API client's /transcribe
or /compare JSON, the Compare tab's Add configuration, and the CLI.

    from demo.validate import validate_config
    fields = validate_config({"asr": "base", "quant": "nf4", "num_beams": 3})
    options = PipelineOptions(**fields, max_seconds=settings().max_seconds)

Names must be choices the app offers: registry names, the adapters, low-rank and end-to-end
models listed under the checkpoints folder (by their dropdown label; the CLI may also give a
folder), and hub ids only where ``DEMO_ALLOW_DOWNLOADS`` allows them. Numbers must lie inside
the app's own bounds, adapters must have been trained on the chosen base, and unknown keys are
refused. Each refusal is a ``ConfigError`` of one sentence naming the field.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from demo.errors import DemoError

NO_ADAPTER = "none"
NO_COMPRESSION = "none"
NEWEST_E2E = "newest trained"  # the e2e pipeline's default: the newest summarizing E2E model
AUTO = "auto"
DEVICES = ("auto", "cpu", "cuda")
# The app's sliders and number box; the CLI and API clients get the same bounds.
BOUNDS = {"num_beams": (1, 5), "summary_sentences": (1, 10), "summary_words": (0, 2000)}
TEXT_FIELDS = ("asr", "quant", "asr_adapter", "compression", "summarizer", "summarizer_quant",
               "summarizer_adapter", "device", "language", "pipeline", "e2e_model",
               "summary_style")  # fmt: skip
# Fields set by the server, never by a configuration.
SERVER_FIELDS = {"max_seconds": "DEMO_MAX_SECONDS"}
FP32_QUANTS = (AUTO, "full", "fp32")  # all the extractive ranker runs in


class ConfigError(DemoError, ValueError):
    """A configuration the app does not offer; the message names the field."""


def config_fields() -> tuple[str, ...]:
    """The keys a configuration may hold: ``PipelineOptions`` fields the server doesn't set."""
    from demo.pipeline import PipelineOptions

    return tuple(
        f.name
        for f in dataclasses.fields(PipelineOptions)
        if f.init and f.name not in SERVER_FIELDS
    )


def validate_configs(configs: Any, max_configs: int) -> list[dict[str, Any]]:
    """The Compare tab's list of configurations: a list of at most ``max_configs`` objects."""
    if configs is None:
        return []
    if not isinstance(configs, list):
        raise ConfigError(
            f"The configurations must be a list of objects, one per configuration, not "
            f"{_kind(configs)}."
        )
    if len(configs) > max_configs:
        raise ConfigError(
            f"Compare at most {max_configs} configurations at a time; got {len(configs)}."
        )
    for number, config in enumerate(configs, start=1):
        if not isinstance(config, Mapping):
            raise ConfigError(
                f"Configuration {number} must be an object such as "
                f'{{"asr": "tiny.en", "quant": "auto"}}, not {_kind(config)}.'
            )
    return [dict(config) for config in configs]


def validate_config(
    values: Mapping[str, Any], *, local: bool = False, ignore: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Check one configuration; return ``PipelineOptions`` keyword arguments (adapter, low-rank
    and end-to-end labels resolved to their folders; "none", "auto" and missing values left to
    the defaults).

    ``local`` (the CLI, run by the machine's own user): local model, adapter and low-rank
    folders are accepted too. Keys in ``ignore`` (the app's other widgets) are skipped; any
    other unknown key is refused.
    """
    from demo.settings import settings

    if not isinstance(values, Mapping):
        raise ConfigError(f"A configuration must be an object, not {_kind(values)}.")
    known = config_fields()
    for key in values:
        if key in SERVER_FIELDS:
            raise ConfigError(
                f"{key} is set by the server ({SERVER_FIELDS[key]}), not by a configuration."
            )
        if key not in known and key not in ignore:
            raise ConfigError(
                f"Unknown configuration field {str(key)[:40]!r}; use only: {', '.join(known)}."
            )
    given = {k: v for k, v in values.items() if k in known and v is not None}
    for key in TEXT_FIELDS:
        if key in given and not isinstance(given[key], str):
            raise ConfigError(
                f"{key} must be text (a name from its list), not {_kind(given[key])}."
            )
    s = settings()
    checker = _Checker(given, s.checkpoints, s.allow_downloads, local)
    return checker.fields()


class _Checker:
    def __init__(self, given: dict, root: Path, downloads: bool, local: bool) -> None:
        self.given, self.root, self.downloads, self.local = given, root, downloads, local
        self.out: dict[str, Any] = {}

    def fields(self) -> dict[str, Any]:
        from demo.pipeline import CASCADE, PIPELINES

        g = self.given
        pipeline = g.get("pipeline", CASCADE)
        if pipeline not in PIPELINES:
            raise _choice("pipeline", pipeline, list(PIPELINES))
        self.out["pipeline"] = pipeline
        asr_entry = self._asr()
        summarizer_entry = self._summarizer()
        self._quant("quant", "asr")
        self._quant("summarizer_quant", summarizer_entry.kind)
        self._asr_extras(asr_entry)
        self._adapter("summarizer_adapter", summarizer_entry)
        self._e2e()
        if g.get("device", AUTO) not in DEVICES:
            raise _choice("device", g["device"], list(DEVICES))
        self.out["device"] = g.get("device", AUTO)
        self._language()
        self._numbers()
        self._style()
        for key in ("e2e_transcript", "word_timestamps"):  # the switches
            if key in g:
                if not isinstance(g[key], bool):
                    raise ConfigError(f"{key} must be true or false, not {_kind(g[key])}.")
                self.out[key] = g[key]
        return self.out

    # -- models

    def _model(self, key: str, default: str, registry: dict, what: str, example: str, name=None):
        from demo.hub import is_checkpoint_dir, looks_like_hub_id

        name = self.given.get(key, default) if name is None else name
        if name in registry:
            self.out[key] = name
            return
        if self.local and _is_dir(name) and is_checkpoint_dir(name):
            self.out[key] = name
            return
        if looks_like_hub_id(name) and not _is_dir(name):
            if self.downloads:
                self.out[key] = name
                return
            raise ConfigError(
                f"{key} {name[:80]!r} is a hub model, and this app downloads none "
                f"(DEMO_ALLOW_DOWNLOADS=0); pick a listed {what} such as {example}."
            )
        where = " or a local checkpoint folder" if self.local else ""
        raise ConfigError(
            f"Unknown {what} {str(name)[:80]!r} for {key}; pick one of: "
            f"{', '.join(registry)}{where}."
        )

    def _asr(self):
        from demo.asr.registry import DEFAULT_ASR, WHISPER_MODELS, get_whisper_model

        self._model("asr", DEFAULT_ASR, WHISPER_MODELS, "Whisper model", "tiny.en")
        return get_whisper_model(self.out["asr"])

    def _summarizer(self):
        from demo.summarize.registry import (
            DEFAULT_SUMMARIZER,
            STRATEGY_SEPARATOR,
            available_summarizers,
            get_summarizer,
            split_summarizer,
        )  # fmt: skip

        listed = dict.fromkeys(available_summarizers())  # auto, the models, listed strategies
        name, strategy = self.given.get("summarizer", DEFAULT_SUMMARIZER), ""
        if name not in listed and STRATEGY_SEPARATOR in name:  # "<model>+<strategy>"
            name, _, strategy = name.rpartition(STRATEGY_SEPARATOR)
        self._model("summarizer", DEFAULT_SUMMARIZER, listed, "summarizer", "auto", name=name)
        if strategy:
            self.out["summarizer"] += STRATEGY_SEPARATOR + strategy
        try:
            split_summarizer(self.out["summarizer"])  # the strategy suits the model's kind
        except ValueError as exc:
            raise ConfigError(f"summarizer: {exc}") from None
        return get_summarizer(self.out["summarizer"])

    def _style(self) -> None:
        from demo.summarize.registry import SUMMARY_STYLES

        style = self.given.get("summary_style", SUMMARY_STYLES[0])
        if style not in SUMMARY_STYLES:
            raise _choice("summary_style", style, list(SUMMARY_STYLES))
        self.out["summary_style"] = style

    def _quant(self, key: str, kind: str) -> None:
        from demo.quant import available_quant_modes

        mode = self.given.get(key, AUTO)
        if kind == "extractive":
            choices = list(FP32_QUANTS)
            if mode not in choices:
                raise ConfigError(
                    f"{key} {str(mode)[:40]!r} doesn't apply to the extractive summarizer, which "
                    f"has no weights to quantize; pick one of: {', '.join(choices)}."
                )
        else:
            choices = available_quant_modes(kind)
            if mode not in choices:
                what = "Whisper" if key == "quant" else f"a {kind} summarizer"
                raise ConfigError(
                    f"Unknown {key} {str(mode)[:40]!r} for {what}; pick one of: "
                    f"{', '.join(choices)}."
                )
        self.out[key] = mode

    # -- what is trained on a base: adapters, low-rank models, end-to-end models

    def _asr_extras(self, entry) -> None:
        from demo.compress.choices import list_compressions

        self._adapter("asr_adapter", entry)
        compressed = {m.label: m.path for m in list_compressions(self.root, base=entry.name)}
        self._listed("compression", NO_COMPRESSION, compressed, entry, check=None)

    def _adapter(self, key: str, entry) -> None:
        from demo.adapters import check_adapter_base, list_adapters

        adapters = {a.label: a.path for a in list_adapters(self.root, base=entry.name)}
        self._listed(key, NO_ADAPTER, adapters, entry, check=check_adapter_base)

    def _listed(self, key: str, none: str, listed: dict[str, Path], entry, check) -> None:
        """A label from ``listed`` (the dropdown's choices for this base); the CLI may give a
        folder (``check(folder, entry)`` refuses one made for another base)."""
        value = self.given.get(key, none)
        if value in (none, ""):
            return
        if value in listed:
            self.out[key] = str(listed[value])
            return
        if self.local and _is_dir(value):
            self.out[key] = str(check(value, entry)) if check is not None else value
            return
        raise ConfigError(
            f"{key} {str(value)[:80]!r} is not one made for {entry.name} under "
            f"{self.root.name}/; pick one of: {', '.join([none, *listed])}."
        )

    def _e2e(self) -> None:
        from demo.bridge.e2e_io import list_e2e

        value = self.given.get("e2e_model", NEWEST_E2E)
        if value in (NEWEST_E2E, NO_ADAPTER, ""):
            return
        listed = {e.label: e for e in list_e2e(self.root)}
        if value in listed:
            self.out["e2e_model"] = listed[value].name
            return
        if self.local and _is_dir(value):
            self.out["e2e_model"] = value
            return
        raise ConfigError(
            f"e2e_model {str(value)[:80]!r} is not a trained end-to-end model under "
            f"{self.root.name}/; pick one of: {', '.join([NEWEST_E2E, *listed])}."
        )

    # -- the rest

    def _language(self) -> None:
        from demo.asr import language_names

        language = self.given.get("language", AUTO)
        if language in ("", AUTO):
            return
        if language not in language_names():
            raise ConfigError(
                f"Unknown language {str(language)[:20]!r}; set language to auto (detect) or to "
                "a code Whisper knows, such as en, de, fr."
            )
        self.out["language"] = language

    def _numbers(self) -> None:
        for key, (low, high) in BOUNDS.items():
            if key not in self.given:
                continue
            value = self.given[key]
            whole = isinstance(value, int | float) and not isinstance(value, bool)
            if not whole or not math.isfinite(value) or value != int(value):
                raise ConfigError(
                    f"{key} must be a whole number from {low} to {high}, not {_kind(value)}."
                )
            if not low <= value <= high:
                raise ConfigError(f"{key} must be from {low} to {high}, not {int(value)}.")
            number = int(value)
            self.out[key] = None if key == "summary_words" and number == 0 else number


def _is_dir(name: str) -> bool:
    try:
        return Path(name).is_dir()
    except (OSError, ValueError):  # a name too long, or with a NUL byte
        return False


def _choice(key: str, value: Any, choices: list[str]) -> ConfigError:
    return ConfigError(f"{key} {str(value)[:40]!r} is unknown; pick one of: {', '.join(choices)}.")


def _kind(value: Any) -> str:
    """A value as a refusal names it: short, its type when it is not a scalar."""
    if isinstance(value, bool | int | float) or value is None:
        return repr(value)
    if isinstance(value, str):
        return repr(value[:40])
    return f"a {type(value).__name__}"
