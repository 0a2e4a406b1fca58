"""Device choice shared by every encoder: GPU when torch sees one, CPU otherwise."""
from __future__ import annotations

import torch


def pick_device(requested: str = "auto") -> torch.device:
    """``auto`` → ``cuda`` when available else ``cpu``; an explicit name is honoured."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)
