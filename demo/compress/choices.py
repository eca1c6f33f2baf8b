"""Every way a Whisper model can be loaded compressed, as one registry: the dropdown's choices,
what a folder is, and how it goes onto the loaded base.

- ``lowrank``: the semi-orthogonal low-rank factors (``demo.compress.lowrank_io``), in place of
  the base's layers, optionally with a LoRA adapter on them;
- ``bridge``: the Q-Former bridge (``demo.bridge.serve``): the decoder reads Nq query vectors
  instead of the encoder's 1500 frames. It was trained against the fp32 decoder, so it loads
  at full precision and takes no adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from demo.errors import CompressionError, DemoError


@dataclass(frozen=True)
class Compression:
    """One kind: how to list its folders, read one, and put it onto a loaded Whisper."""

    name: str
    marker: str  # a file inside a folder of this kind, or inside <run>/<folder>/
    folder: str  # the subfolder of a run folder that holds it
    list: Callable[..., list]  # (root, base) -> infos with label, path, base, adapter, kind
    info: Callable[[str | Path], Any]
    attach: Callable[[Any, Any, str], Any]  # (info, model, base name) -> the model to run
    fp32: bool = False  # only at full precision (auto becomes full)
    adapters: bool = True  # whether a Whisper adapter may go on top
    note: str = ""  # a caveat the result shows whenever it runs


def _lowrank() -> Compression:
    from demo.compress import lowrank_io as io

    def attach(info, model, base: str):
        return io.load_lowrank(info.path, model, base)

    return Compression("lowrank", io.CONFIG_FILE, io.FOLDER, io.list_lowrank, io.lowrank_info,
                       attach)  # fmt: skip


def _bridge() -> Compression:
    from demo.bridge import serve

    def attach(info, model, base: str):
        return serve.attach_bridge(info, model)

    return Compression("bridge", "bridge.json", serve.SERVE_DIR, serve.list_bridges,
                       serve.bridge_info, attach, fp32=True, adapters=False,
                       note=serve.CAVEAT)  # fmt: skip


# Built on first use: listing a kind imports its module (torch), which the app's start skips.
_KINDS: dict[str, Callable[[], Compression]] = {"lowrank": _lowrank, "bridge": _bridge}


def compression_kinds() -> list[Compression]:
    return [make() for make in _KINDS.values()]


def list_compressions(root: str | Path, base: str | None = None) -> list:
    """Every compressed model under ``root/<run>/`` that can load (optionally for one base)."""
    return [info for kind in compression_kinds() for info in kind.list(root, base=base)]


def compression_kind(path: str | Path) -> Compression:
    """The kind of compressed model a folder (or its run folder) holds, or one sentence."""
    path = Path(path)
    for kind in compression_kinds():
        if (path / kind.marker).is_file() or (path / kind.folder / kind.marker).is_file():
            return kind
    raise CompressionError(
        f"{path} is neither a low-rank model nor a Q-Former bridge folder (no "
        f"{' or '.join(k.marker for k in compression_kinds())} in it)."
    )


def compression_info(path: str | Path, kind: Compression | None = None):
    """What a compressed model folder is (label, path, base, adapter, kind), checked;
    ``kind``: its ``compression_kind`` when the caller has it already."""
    kind = kind or compression_kind(path)
    try:
        return kind.info(path)
    except CompressionError:
        raise
    except DemoError as exc:  # a bridge's own error, as the compression's
        raise CompressionError(str(exc)) from exc
