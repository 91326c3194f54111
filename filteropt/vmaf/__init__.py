"""A differentiable VMAF in PyTorch that agrees with libvmaf's float feature extractors."""

from filteropt.vmaf.vmaf import VMAF, VmafResult, vmaf, vmaf_features

__all__ = ["VMAF", "VmafResult", "vmaf", "vmaf_features"]
