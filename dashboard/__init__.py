"""The dashboard's view-models: plain Python, no gradio, testable on their own.

``try_it``, ``compare_view``, ``training_view`` and ``reported_view`` build what each of the
app's four tabs shows, on the ``results`` package (runs, bench files, findings, charts);
``handlers`` maps widget values to them by name; ``diff`` marks words that differ
from a reference. ``app.py`` is the only file that imports gradio.
"""
