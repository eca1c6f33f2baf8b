"""Every ``DEMO_*`` setting in one frozen dataclass, read from the environment when asked for.

Nothing is read at import time: ``settings()`` builds a fresh ``Settings`` from the environment
on each call, so tests and a running app see a changed variable at once.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SWITCH = {"1": True, "true": True, "yes": True, "on": True,
          "0": False, "false": False, "no": False, "off": False}  # fmt: skip
DEFAULT_MAX_SECONDS = 600.0  # 10 minutes: the longest clip the app, the CLI and Compare accept


def _env(name: str, help_text: str, default: Any = None, **kwargs: Any):
    return field(default=default, metadata={"env": name, "help": help_text}, **kwargs)


@dataclass(frozen=True)
class Settings:
    checkpoints: Path = _env(
        "DEMO_CHECKPOINTS", "the only folder runs, adapters and benchmarks are read from",
        ROOT / "checkpoints",
    )  # fmt: skip
    cache_dir: Path = _env(
        "DEMO_CACHE_DIR", "converted bundled weights (Whisper, SmolLM2)",
        Path.home() / ".cache" / "stt-summarization-demo",
    )  # fmt: skip
    queue_size: int = _env("DEMO_QUEUE_SIZE", "requests allowed to wait; more get 'queue full'", 16)
    concurrency: int = _env("DEMO_CONCURRENCY", "pipelines run at once", 1)
    max_upload_mb: float = _env("DEMO_MAX_UPLOAD_MB", "largest upload in MB", 50.0)
    max_seconds: float = _env("DEMO_MAX_SECONDS", "longest clip in seconds", DEFAULT_MAX_SECONDS)
    max_models: int = _env("DEMO_MAX_MODELS", "models kept in memory (LRU)", 3)
    preload: bool = _env(
        "DEMO_PRELOAD", "1: the app loads its default models as it starts, so the first click "
        "doesn't wait for them (bench.click: 13-24 s); 0: on first use", True,
    )  # fmt: skip
    max_text_chars: int = _env(
        "DEMO_MAX_TEXT_CHARS", "longest reference text (transcript or summary) accepted", 20_000
    )
    allow_downloads: bool = _env(
        "DEMO_ALLOW_DOWNLOADS", "1: a configuration may name any hub model (a networked server "
        "downloads it); 0: only the listed models", False,
    )  # fmt: skip
    max_compare_seconds: float = _env(
        "DEMO_MAX_COMPARE_SECONDS", "clip seconds x configurations one Compare run may take",
        1800.0,
    )  # fmt: skip

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int | float) and not isinstance(value, bool) and not value > 0:
                raise ValueError(f"{f.metadata['env']} must be a positive number, got {value}.")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``DEMO_*`` environment variables, defaults for those unset."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f.metadata["env"])
            if raw is None or raw == "":
                continue
            kind = type(f.default)
            if isinstance(f.default, bool):
                if raw.strip().lower() not in SWITCH:
                    raise ValueError(f"{f.metadata['env']} must be 1 or 0, got {raw!r}.")
                values[f.name] = SWITCH[raw.strip().lower()]
                continue
            if isinstance(f.default, Path):
                values[f.name] = Path(raw).expanduser()
                continue
            what = "a whole number" if kind is int else "a number"
            try:
                number = kind(raw.strip())
            except ValueError:
                raise ValueError(
                    f"{f.metadata['env']} must be {what} above 0, got {raw[:40]!r}."
                ) from None
            if not math.isfinite(number):  # NaN passes `> 0` checks oddly, inf breaks limits
                raise ValueError(f"{f.metadata['env']} must be a finite number, got {raw!r}.")
            values[f.name] = number
        return cls(**values)


def settings() -> Settings:
    """The settings now (environment read on every call)."""
    return Settings.from_env()


def describe() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) of every setting, for the README and ``demo models``."""
    rows = []
    for f in fields(Settings):
        default = f.default
        if isinstance(default, Path):
            default = str(default).replace(str(ROOT) + "/", "").replace(str(Path.home()), "~")
        rows.append((f.metadata["env"], str(default), f.metadata["help"]))
    return rows
