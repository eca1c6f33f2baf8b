"""Model compression research systems: low-rank factorization and latent-space compression."""
