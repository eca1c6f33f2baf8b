"""Model compression methods that change a model's structure, beside quantization (demo.quant).

- ``lowrank``: semi-orthogonal low-rank factorization (Prasad et al., Interspeech 2024, with
  the constraint of Povey et al. 2018, Kaldi TDNN-F): selected ``nn.Linear`` layers become two
  thinner ``nn.Linear`` factors initialised by truncated SVD, the first kept semi-orthogonal
  while training; saved and rebuilt on a freshly loaded base.
- ``latent`` (+ ``autoencoder``): latent-space compression (Alam Falaki & Gras, ICMLA 2022):
  an autoencoder on the encoder's output and a decoder rebuilt at the latent width.

The factors are plain ``nn.Linear`` modules, so PEFT adapters target them by name and
quantization (torch dynamic int8, the fast CPU path) applies after compression.
"""
