"""The network's named blocks, after Won et al.'s ``Conv_2d`` and ``Res_2d`` (their ``modules.py``).

Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 2). :class:`ConvBlock` is a 3x3
convolution, batch norm, ReLU and 2x2 max-pool; :class:`ResBlock` the same with two
convolutions and a residual path. :mod:`bag_of_songs.cnn.nets` stacks them.
"""

from __future__ import annotations

import torch
from torch import nn


class ConvBlock(nn.Module):
    """3x3 convolution, batch norm, ReLU, 2x2 max-pool (Won et al.'s ``Conv_2d``).

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 2).

    Parameters
    ----------
    in_channels, out_channels : int
    pool : int
        Max-pool size and stride (frequency and time), ``ceil_mode`` so a 1-wide input stays 1.

    Examples
    --------
    >>> ConvBlock(1, 8)(torch.zeros(2, 1, 96, 129)).shape  # (batch, channels, bands, frames)
    torch.Size([2, 8, 48, 65])
    """

    def __init__(self, in_channels: int, out_channels: int, pool: int = 2):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(pool, ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.relu(self.bn(self.conv(x))))


class ResBlock(nn.Module):
    """Two 3x3 conv-BN layers with a residual path, ReLU, 2x2 max-pool (as ``Res_2d``).

    The shortcut is a 1x1 convolution with batch norm when the channel count changes, else the
    identity.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 2).

    Parameters
    ----------
    in_channels, out_channels : int
    pool : int
    """

    def __init__(self, in_channels: int, out_channels: int, pool: int = 2):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = (nn.Identity() if in_channels == out_channels else nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)))
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(pool, ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return self.pool(self.relu(h + self.shortcut(x)))


#: The block kinds a network (and a saved model's ``architecture``) may name.
BLOCKS = {"conv": ConvBlock, "res": ResBlock}
