"""Speech-to-text summarization demo core: audio, Whisper, summarizers, metrics, runs.

Nothing here imports gradio; ``app.py`` and ``training/`` are thin callers of this package.
"""

from demo.errors import DemoError

__all__ = ["DemoError"]
