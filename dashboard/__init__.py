"""The dashboard's view-models: plain Python, no gradio, testable on their own.

``try_it``, ``compare_view``, ``training_view`` and ``reported_view`` build what each of the
app's four tabs shows; ``charts/`` holds the figures split by subject (style, training,
reported, compare, export); ``runs`` reads the training runs; ``diff`` marks words that differ
from a reference. ``app.py`` is the only file that imports gradio.
"""
