"""The Q-Former speech bridge (BLIP-2's design, as the thesis defense's SparQLe uses it) and
the end-to-end speech -> summary model built on it.

A small BERT (``qformer``: initialised from the bundled all-MiniLM-L6-v2) holds Nq learned
query vectors that cross-attend to a frozen Whisper encoder's features and come out as a
fixed-size summary of the clip. ``model.SpeechBridge`` adds BLIP-2's three pre-training
objectives (``losses``: speech-text contrastive, matching, and speech-grounded generation) and
projection heads that hand the queries to a frozen decoder; ``asr`` is the first such decoder
(frozen Whisper reading Nq vectors instead of 1500 frames); ``e2e`` is the second (a frozen
SmolLM2 reading the projected queries as a prefix and writing the summary; ``e2e_io`` saves and
loads it, ``serve`` is the pipeline's "e2e" choice). ``features`` caches encoder outputs so
training never runs the encoder twice.

Nq is fixed per clip in the bridge, as in BLIP-2 and SparQLe, so the bottleneck's size is one
number to vary. SALMONN's window-level Q-Former (``bytedance/SALMONN``) instead gives each
0.33 s window (17 encoder frames) its own query, so Nq grows with the clip; the E2E model does
the same at Whisper's 30 s window: Nq per window, the windows' prefixes concatenated.
"""
