"""Small time-conditioned U-Nets for image data, on the library's flat convention: x is (n, D) with
D = C*H*W (row-major from (C, H, W)), pixels in [-1, 1]; t is (n,) or a scalar.

The FP residuals differentiate the model twice in x and once in t, and training backpropagates
through that, so the backbone is smooth everywhere: SiLU, GroupNorm, average-pool down, nearest
up, no ReLU or max-pool. Every operation acts on one sample at a time (GroupNorm normalises per
sample), so row i of the output depends on row i of the input only, which exact_divergence and
the per-point residuals rely on.

UNetScore is the direct (vector) score, UNetPotential the paper's scalar potential; both share
one backbone and the same EDM-style input scaling (Karras et al., 2022).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional

from odesdegap.models.base import PotentialModel


def _group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with up to 8 groups that divide `channels` (any width works)."""
    return nn.GroupNorm(math.gcd(8, channels), channels)


class ResidualBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, the time embedding added in between, and a (1x1) skip."""

    def __init__(self, channels_in: int, channels_out: int, embedding_width: int):
        super().__init__()
        self.norm_in = _group_norm(channels_in)
        self.conv_in = nn.Conv2d(channels_in, channels_out, 3, padding=1)
        self.time = nn.Linear(embedding_width, channels_out)
        self.norm_out = _group_norm(channels_out)
        self.conv_out = nn.Conv2d(channels_out, channels_out, 3, padding=1)
        self.skip = (nn.Identity() if channels_in == channels_out
                     else nn.Conv2d(channels_in, channels_out, 1))

    def forward(self, h: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        out = self.conv_in(functional.silu(self.norm_in(h)))
        out = out + self.time(functional.silu(embedding))[:, :, None, None]
        out = self.conv_out(functional.silu(self.norm_out(out)))
        return out + self.skip(h)


class UNetBackbone(nn.Module):
    """(n, C, H, W) image and (n,) noise level log s(t) -> (n, C, H, W).

    One residual block per level going down (average-pool between levels), one per level going
    up (nearest upsampling, then the down path's features concatenated: the skip connections);
    the deepest level's down block is the bottleneck. The noise level enters through sinusoidal
    features and a small MLP, added in every block.
    """

    def __init__(self, image_channels: int, channels: int, channel_multipliers: tuple[int, ...]):
        super().__init__()
        widths = [channels * m for m in channel_multipliers]
        self.levels = len(widths)
        half = max(1, channels // 2)
        # Frequencies 1/4 .. 4 per unit of log s: the noise levels of every process span a few
        # units of log s, and low frequencies keep d phi / dt (the FP residual) moderate.
        self.register_buffer("frequencies", torch.logspace(-2.0, 2.0, half, base=2.0))
        embedding_width = 2 * channels
        self.time_mlp = nn.Sequential(nn.Linear(2 * half, embedding_width), nn.SiLU(),
                                      nn.Linear(embedding_width, embedding_width))
        self.conv_in = nn.Conv2d(image_channels, channels, 3, padding=1)
        self.down = nn.ModuleList()
        width_in = channels
        for width in widths:
            self.down.append(ResidualBlock(width_in, width, embedding_width))
            width_in = width
        self.up = nn.ModuleList(
            ResidualBlock(widths[level + 1] + widths[level], widths[level], embedding_width)
            for level in range(self.levels - 1)
        )
        self.norm_out = _group_norm(widths[0])
        self.conv_out = nn.Conv2d(widths[0], image_channels, 3, padding=1)
        # Zero output: the models start exactly at their reference score (zero, or Gaussian).
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, image: torch.Tensor, log_noise: torch.Tensor) -> torch.Tensor:
        angles = log_noise[:, None] * self.frequencies
        embedding = self.time_mlp(torch.cat([torch.sin(angles), torch.cos(angles)], dim=1))
        h = self.conv_in(image)
        skips = []
        for level, block in enumerate(self.down):
            if level > 0:
                h = functional.avg_pool2d(h, 2)
            h = block(h, embedding)
            skips.append(h)
        for level in reversed(range(self.levels - 1)):
            h = functional.interpolate(h, scale_factor=2.0, mode="nearest")
            h = self.up[level](torch.cat([h, skips[level]], dim=1), embedding)
        return self.conv_out(functional.silu(self.norm_out(h)))


class _ImageModel(nn.Module):
    """Shared by both U-Net models: argument checks, the flat <-> image reshapes, the scalings."""

    def __init__(self, dim: int, image_shape, channels: int, channel_multipliers, process,
                 data_std: float):
        super().__init__()
        name = type(self).__name__
        if process is None:
            raise ValueError(f"{name} needs the forward process (its scalings are a(t), s(t))")
        image_shape = tuple(image_shape)
        if len(image_shape) != 3 or not all(isinstance(n, int) and n > 0 for n in image_shape):
            raise ValueError(f"{name}: image_shape must be 3 positive ints (C, H, W), "
                             f"got {image_shape!r}")
        if math.prod(image_shape) != dim:
            raise ValueError(f"{name}: dim = {dim} but image_shape {image_shape} has "
                             f"C*H*W = {math.prod(image_shape)} values")
        channel_multipliers = tuple(channel_multipliers)
        if not channel_multipliers or not all(isinstance(m, int) and m > 0
                                              for m in channel_multipliers):
            raise ValueError(f"{name}: channel_multipliers must be a non-empty tuple of positive "
                             f"ints, got {channel_multipliers!r}")
        if not (isinstance(channels, int) and channels > 0):
            raise ValueError(f"{name}: channels must be a positive int, got {channels!r}")
        factor = 2 ** (len(channel_multipliers) - 1)
        if image_shape[1] % factor or image_shape[2] % factor:
            raise ValueError(f"{name}: H and W of image_shape {image_shape} must be divisible by "
                             f"2**(levels - 1) = {factor} for {len(channel_multipliers)} levels "
                             f"(channel_multipliers {channel_multipliers})")
        if not data_std > 0:
            raise ValueError(f"{name}: data_std must be positive, got {data_std!r}")
        self.dim = dim
        self.image_shape = image_shape
        self.process = process
        self.data_std = float(data_std)
        self.backbone = UNetBackbone(image_shape[0], channels, channel_multipliers)

    def _scalings(self, x: torch.Tensor, t: torch.Tensor):
        """t as (n,), a(t), s(t) and A(t) = a^2 data_std^2 + s^2, the variance of x_t when the
        data have per-pixel variance data_std^2, as (n, 1) columns."""
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(x.shape[0])
        scale = self.process.mean_scale(t).reshape(-1, 1)
        std = self.process.marginal_std(t).reshape(-1, 1)
        return t, scale, std, (scale * self.data_std) ** 2 + std**2

    def _network(self, x: torch.Tensor, std: torch.Tensor, variance: torch.Tensor):
        """The backbone on x / sqrt(A) (unit-scale input at every t), flat in and out."""
        image = (x / variance.sqrt()).reshape(x.shape[0], *self.image_shape)
        return self.backbone(image, torch.log(std.squeeze(1))).reshape(x.shape[0], -1)

    def fit_baseline(self, data: torch.Tensor) -> None:
        """Nothing to fit (data_std is fixed); kept so callers can treat every model alike."""


class UNetScore(_ImageModel):
    """s(x, t) = -x / A + a data_std F(x, t) / (s sqrt(A)): the preconditioned denoiser of
    Karras et al. (2022, EDM) written as a score, i.e. the noise prediction
    eps_hat = s x / A - a data_std F / sqrt(A). At F = 0 (the initialisation) it is the exact
    score of N(0, data_std^2 I) data, the same start as UNetPotential, so both parameterisations
    are compared from equal footing; the 1/s factor lets F express the sharp small-t scores with
    an O(1) output. Regularise it with the score FP equation (score_residual.py)."""

    def __init__(self, dim: int, image_shape, *, channels: int, channel_multipliers,
                 process=None, data_std: float = 0.5):
        super().__init__(dim, image_shape, channels, channel_multipliers, process, data_std)

    def score(self, x: torch.Tensor, t: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
        """s(x, t), shape (n, D). `create_graph` is accepted for parity with the potentials: the
        output is the network's, so it is differentiable whenever autograd is on."""
        _, scale, std, variance = self._scalings(x, t)
        correction = scale * self.data_std / (std * variance.sqrt())
        return -x / variance + correction * self._network(x, std, variance)


class UNetPotential(_ImageModel, PotentialModel):
    """phi(x, t), read as a log-density, in the energy form of Salimans & Ho (2021):

        phi = -|x - a(t) x0_hat(x, t)|^2 / (2 s^2) - D/2 log(2 pi A),
        x0_hat = c_skip x + c_out F(x, t),  1 - a c_skip = s / sqrt(A),  c_out = s sd / sqrt(A)

    with F the backbone, sd = data_std and A = a^2 sd^2 + s^2; equivalently
    phi = -|u|^2/2 - D/2 log(2 pi A) with u = (x - a sd F) / sqrt(A). At F = 0 (the
    initialisation: zero output layer) phi is the exact log-density of N(0, sd^2 I) data pushed
    through the process, so the score starts at -(x - a x0_hat)/s^2 = -x/A and the FP residual
    at zero; the 1/s^2 form lets a smooth x0_hat express the sharp, 1/s-sized scores near the
    data at small t. The D/2 log(2 pi A) term depends on t only (the score ignores it) but keeps
    d phi/dt, and so the FP residual, that of a normalised density. phi is smooth:
    twice differentiable in x and once in t as the FP residual needs, and again in the weights.
    """

    def __init__(self, dim: int, image_shape, *, channels: int, channel_multipliers,
                 process=None, data_std: float = 0.5):
        super().__init__(dim, image_shape, channels, channel_multipliers, process, data_std)

    def potential(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """phi(x, t) for x of shape (n, D) and t of shape (n,) or a scalar; returns (n,)."""
        _, scale, std, variance = self._scalings(x, t)
        residual = (x - scale * self.data_std * self._network(x, std, variance)) / variance.sqrt()
        normaliser = 0.5 * x.shape[1] * torch.log(2 * math.pi * variance.squeeze(1))
        return -0.5 * (residual**2).sum(dim=1) - normaliser
