"""The ways from audio to summary, one module each, below ``demo.pipeline`` (the front door).

``options``: ``PipelineOptions`` and ``References``, what a run is asked for. ``cascade``:
Whisper, then a summarizer. ``e2e``: a trained end-to-end model (Q-Former -> SmolLM2), no
transcript stage. ``result``: what the stages hand back (``StageOutputs``) and the
``PipelineResult`` that ``demo.pipeline.run_pipeline`` makes of them. ``demo.pipeline`` holds
the registry (``PIPELINES``) and ``run_pipeline``, and every name above stays importable there.
"""
