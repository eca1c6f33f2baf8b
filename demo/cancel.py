"""Cooperative cancellation: long work stops at its next checkpoint when its caller says so.

A caller (the app, when a user presses Stop) runs work inside ``cancellable(event)`` and sets
the event to stop it; the core calls ``check()`` between units of work (pipeline stages,
30 s windows, configurations, summary chunks, generated tokens), which raises ``Cancelled``
once the event is set. Outside ``cancellable`` a check does nothing.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from demo.errors import DemoError

_EVENT: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar(
    "demo_cancel_event", default=None
)


class Cancelled(DemoError):
    """The user stopped the request."""


@contextmanager
def cancellable(event: threading.Event) -> Iterator[threading.Event]:
    """Run the body so that setting ``event`` stops it at its next ``check()``."""
    token = _EVENT.set(event)
    try:
        yield event
    finally:
        _EVENT.reset(token)


def check() -> None:
    """Raise ``Cancelled`` if the work this thread is doing was asked to stop."""
    event = _EVENT.get()
    if event is not None and event.is_set():
        raise Cancelled("Stopped: the request was cancelled.")
