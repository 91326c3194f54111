"""Training prefilters against the differentiable VMAF: objective, trainable filters, trainer, alpha sweep."""
