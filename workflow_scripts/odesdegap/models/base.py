"""What every potential model shares: the score is the input-gradient of phi(x, t)."""

from __future__ import annotations

import torch
from torch import nn


class PotentialModel(nn.Module):
    """A model of the log-density phi(x, t); subclasses define `potential(x, t)` -> (n,)."""

    def potential(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def score(self, x: torch.Tensor, t: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
        """grad_x phi(x, t). With create_graph the result can be differentiated again (training)."""
        with torch.enable_grad():
            if not x.requires_grad:
                x = x.detach().requires_grad_(True)
            phi = self.potential(x, t)
            (grad_x,) = torch.autograd.grad(phi.sum(), x, create_graph=create_graph)
        return grad_x
