"""The Hugging Face hub used normally when online and never waited on when offline.

``from_pretrained`` reads the local cache first and fails fast with one sentence when a model
is not downloaded and the hub can't be reached; without the cache-first try, transformers
retries an unreachable hub for minutes before giving up, which is what a presenter with no
network would see.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from demo.errors import DemoError, ModelUnavailableError

HUB_URL = "https://huggingface.co"


def is_checkpoint_dir(name: str) -> bool:
    """Whether ``name`` is a local transformers checkpoint folder (has a config.json)."""
    return (Path(name) / "config.json").is_file()


def looks_like_hub_id(name: str) -> bool:
    """``org/model``: two non-empty parts, no path tricks."""
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and ".." not in name and not name.startswith("/")


def is_hub_cached(hub_id: str) -> bool:
    """Whether a hub model's config is in the local Hugging Face cache (no network used)."""
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(hub_id, "config.json"), str)


def offline_word(find_bundle, hub_id: str | None) -> str:
    """One word for ``python -m demo models``: ``bundled`` (``find_bundle()`` finds the
    packaged files, or there is no hub id), ``missing`` (it raises ModelUnavailableError),
    else ``cached`` or ``download`` by the hub cache. ``find_bundle`` None: nothing bundled."""
    if find_bundle is not None:
        try:
            find_bundle()
            return "bundled"
        except ModelUnavailableError:
            return "missing"
    if hub_id is None:
        return "bundled"
    return "cached" if is_hub_cached(hub_id) else "download"


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the model hub answers a TCP connection quickly (False when offline)."""
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", HUB_URL)).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def hub_error(what: str, source: str, exc: Exception) -> DemoError:
    """The one sentence for a model that can't be loaded from ``source``."""
    if Path(source).is_dir():
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "pickle" in reason.lower() or "weights_only" in reason.lower() or ".bin" in reason:
            reason = "it holds no safetensors weights (pickled .bin files are never loaded)"
        return ModelUnavailableError(f"Can't load {what} from {source}: {reason}.")
    why = "is not downloaded and the hub can't be reached"
    return ModelUnavailableError(
        f"The {what} {source} {why}; with network, run `python -m demo download {source}` "
        "(or `hf download " + source + "`) and try again, or pick a bundled model."
    )


PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def check_local_weights(what: str, source: str) -> None:
    """Refuse a local model folder whose weights are only pickles (never unpickled here)."""
    folder = Path(source)
    if not folder.is_dir() or any(folder.glob("*.safetensors")) or any(folder.glob("*.gguf")):
        return
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise ModelUnavailableError(
            f"The {what} folder {source} holds only pickled weights ({pickles[0]}), which are "
            "never loaded because unpickling can run code; save it with safetensors "
            "(`model.save_pretrained(folder, safe_serialization=True)`)."
        )


def from_pretrained(cls, what: str, source: str, *, weights: bool = False, **kwargs):
    """``cls.from_pretrained(source)``: local files first, the hub only when reachable.

    ``weights=True`` (model classes) loads safetensors only: a pickled ``pytorch_model.bin``,
    from a user's folder or the hub, is never unpickled.
    """
    check_local_weights(what, source)
    if weights:
        kwargs.setdefault("use_safetensors", True)
    try:
        return cls.from_pretrained(source, local_files_only=True, **kwargs)
    except DemoError:
        raise
    except (OSError, ValueError) as exc:
        if Path(source).is_dir() or not hub_reachable():
            raise hub_error(what, source, exc) from exc
    try:
        return cls.from_pretrained(source, **kwargs)
    except DemoError:
        raise
    except (OSError, ValueError) as exc:
        raise hub_error(what, source, exc) from exc
