"""What the runs and benchmarks measured, read and presented: the layer both the app's
dashboard and the generated report build on.

``runs`` reads ``checkpoints/<run>/`` (run.json + metrics.jsonl), ``bench_files`` the
benchmarks' result files in ``checkpoints/bench/``, ``findings`` states what the fine-tuning
grid shows, ``charts/`` draws the figures by subject, and ``report`` (with ``report_*``) writes
``assets/benchmarks.md``: ``python -m results.report``. Nothing here measures (that is
``bench/``) or imports gradio (that is ``app.py``).
"""
