"""Training toolkit: fine-tune Whisper and seq2seq summarizers into runs the dashboard reads.

    python -m training.make_speech_corpus --out data/espeak --num-utterances 300
    python -m training.train_asr --train data/espeak/manifest.jsonl --method lora
    python -m training.train_summarizer --model t5-small --train data/sums.jsonl --sweep-r 4,8,16

Models load only through ``demo`` (same quantization and adapters as the app); ``loop`` is the
one training loop both scripts share; ``runs`` writes ``checkpoints/<run-id>/``.
"""
