"""Measuring prefilters: alpha sweeps without encoding, and rate-distortion evaluation through an encoder."""
