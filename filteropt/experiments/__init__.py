"""Reproducible experiments: `filteropt experiment run experiments/NAME.toml` writes results/NAME/."""
