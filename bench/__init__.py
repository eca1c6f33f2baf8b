"""Benchmarks: speed, accuracy and memory of every configuration, measured side by side.

- ``python -m bench.asr``: CPU speech recognition, every quantization mode beside
  faster-whisper on the same weights (``--quick`` for tiny.en on jfk.flac, greedy).
- ``python -m bench.memory``: the thesis' memory table (Table 4.2) and trainable parameters
  under LoRA / AdaLoRA, measured on each Whisper size's real architecture.
- ``python -m bench.latent``: latent-space compression (Alam Falaki & Gras) on BART, mBART and
  T5 shapes with random weights: decoder size, generation time, fine-tuning memory.
- ``python -m bench.latent_whisper``: trained latent-compressed Whisper runs beside the
  original (real weights): WER, reconstruction error, decoder size and speed.
- ``python -m bench.gpu``: batched fp16/bf16 transcription throughput on a CUDA GPU.
- ``make bench-peers``: whisper.cpp (``bench.whisper_cpp`` on ``bench.ggml``'s files) and
  llama.cpp (``bench.llamacpp``) on the same weights; bench-only packages.

Results go to ``checkpoints/bench/`` (JSON + CSV, with machine, versions and command), where
the ``results`` package reads them: the app's dashboard, and ``python -m results.report``,
which writes ``assets/benchmarks.md``. Nothing here imports ``results`` or ``dashboard``.
"""
