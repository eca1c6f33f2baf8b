"""The ways from audio to summary, one module each, below ``demo.pipeline`` (the front door).

``cascade``: Whisper, then a summarizer. ``e2e``: a trained end-to-end model (Q-Former ->
SmolLM2), no transcript stage. Both return ``result.StageOutputs``, which
``demo.pipeline.run_pipeline`` times and wraps into a ``PipelineResult``.
"""
