"""The CPU threads the backends' PyTorch computes with (torch is imported behind the backends only)."""

from __future__ import annotations


def set_cpu_threads(threads: int) -> None:
    """Process-wide: every later training and prediction in this process uses `threads` CPU threads."""
    import torch  # when asked: importing torch takes seconds, and most callers never need it

    torch.set_num_threads(threads)
