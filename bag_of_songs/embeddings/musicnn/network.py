"""musicnn's architecture in torch: the building blocks and the network, with random weights.

The ``build_musicnn`` of musicnn 0.1.0 (``musicnn/models.py`` of the wheel; Pons and Serra,
"musicnn: pre-trained convolutional neural networks for music audio tagging", ISMIR 2019
late-breaking demo), in inference mode only: batch norms use their moving statistics and
dropout is omitted. :func:`bag_of_songs.embeddings.musicnn.load_musicnn` fills it with the
trained weights.

This module imports torch; the rest of the package imports it only when a network is built, so
that reading musicnn's constants does not import torch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import N_MELS

__all__ = ["FrozenBatchNorm", "TimbralBlock", "TemporalBlock", "MidendBlock", "Musicnn"]

# Batch-norm epsilon of tf.compat.v1.layers.batch_normalization (its default, used by musicnn).
BN_EPS = 1e-3

# Architecture hyper-parameters of both models (musicnn/models.py: build_musicnn with
# num_filt_frontend=1.6, num_filt_midend=64, num_units_backend=200, 50 classes).
TIMBRAL = ((7, int(0.4 * N_MELS)), (7, int(0.7 * N_MELS)))  # (frames, bands): 38 and 67
N_TIMBRAL = int(1.6 * 128)  # 204 filters each
TEMPORAL = (128, 64, 32)  # frames, x 1 band
N_TEMPORAL = int(1.6 * 32)  # 51 filters each
N_MIDEND = 64
N_UNITS = 200
N_CLASSES = 50


class FrozenBatchNorm(nn.Module):
    """Inference-mode batch norm of ``tf.compat.v1.layers.batch_normalization``.

    ``(x - moving_mean) / sqrt(moving_variance + 1e-3) * gamma + beta`` over ``dim`` (the
    channel axis); the statistics are buffers, nothing is learned or updated.

    Examples
    --------
    >>> bn = FrozenBatchNorm(3)
    >>> bn(torch.ones(2, 3, 5)).shape
    torch.Size([2, 3, 5])
    """

    def __init__(self, n: int, dim: int = 1):
        super().__init__()
        self.dim = dim
        for name, value in (("gamma", 1.0), ("beta", 0.0), ("moving_mean", 0.0),
                            ("moving_variance", 1.0)):
            self.register_buffer(name, torch.full((n,), value, dtype=torch.float32))

    def scale(self):
        return torch.rsqrt(self.moving_variance + BN_EPS) * self.gamma

    def forward(self, x):
        shape = [1] * x.ndim
        shape[self.dim] = -1
        return ((x - self.moving_mean.view(shape)) * self.scale().view(shape)
                + self.beta.view(shape))


def relu_bn_max(conv, bn):
    """``bn(relu(conv)).amax(dim=3)``, without materialising ``bn(relu(conv))``.

    ReLU and each channel's batch norm are monotone maps, applied elementwise with
    monotone rounding: non-decreasing where the channel's scale is >= 0, non-increasing
    where it is < 0. So the maximum over frequency of the result is the map of the
    maximum (or, for a negative scale, of the minimum) of ``conv``: bit for bit the same
    values, from two small (B, C, T) maps instead of two more full-size copies.
    """
    positive = (bn.scale() >= 0).view(1, -1, 1)
    pooled = torch.where(positive, conv.amax(dim=3), conv.amin(dim=3))
    return bn(F.relu(pooled))


class TimbralBlock(nn.Module):
    """Conv over (7 frames x ``bands`` mel bands), ReLU, batch norm, max over frequency."""

    def __init__(self, frames: int, bands: int, filters: int):
        super().__init__()
        self.pad = (frames - 1) // 2  # musicnn pads time by 3 and convolves 'valid'
        self.conv = nn.Conv2d(1, filters, (frames, bands), dtype=torch.float32)
        self.bn = FrozenBatchNorm(filters)

    def forward(self, x):  # (B, 1, T, 96) -> (B, filters, T)
        x = F.pad(x, (0, 0, self.pad, self.pad))
        return relu_bn_max(self.conv(x), self.bn)


class TemporalBlock(nn.Module):
    """Conv over (``frames`` x 1 band), 'same' padding as TensorFlow, ReLU, BN, max."""

    def __init__(self, frames: int, filters: int):
        super().__init__()
        # TF 'same' puts the odd extra padding after: 63 before, 64 after for 128 frames.
        self.pad = ((frames - 1) // 2, frames - 1 - (frames - 1) // 2)
        self.conv = nn.Conv2d(1, filters, (frames, 1), dtype=torch.float32)
        self.bn = FrozenBatchNorm(filters)

    def forward(self, x):  # (B, 1, T, 96) -> (B, filters, T)
        x = F.pad(x, (0, 0, *self.pad))
        return relu_bn_max(self.conv(x), self.bn)


class MidendBlock(nn.Module):
    """1-D conv over 7 frames (zero-padded by 3 each side), ReLU, batch norm."""

    def __init__(self, channels_in: int, filters: int):
        super().__init__()
        self.conv = nn.Conv1d(channels_in, filters, 7, dtype=torch.float32)
        self.bn = FrozenBatchNorm(filters)

    def forward(self, x):  # (B, C, T) -> (B, filters, T)
        return self.bn(F.relu(self.conv(F.pad(x, (3, 3)))))


class Musicnn(nn.Module):
    """musicnn (Pons and Serra, ISMIR 2019 LBD), the ``build_musicnn`` of musicnn 0.1.0.

    Input: log-mel patches ``(B, 187, 96)`` (any number of frames works: the pools are
    global). ``forward`` returns a dict of ``mean_pool``, ``max_pool`` (B, 753),
    ``penultimate`` (B, 200), ``logits`` and ``taggram`` (B, 50). Dropout is omitted: the
    network only runs in inference mode.

    - front end: batch norm of the input; *timbral* filters spanning 7 frames x 38 and 67 mel
      bands (204 each) and *temporal* filters spanning 128, 64 and 32 frames x 1 band (51
      each), each a convolution, ReLU, batch norm and max-pool over frequency: 561 channels;
    - mid-end: three 1-D convolutions over time (64 filters of 7 frames, ReLU, batch norm),
      the second and third with residual connections: 753 channels with the front end;
    - back end: max and mean over time, batch norm, dense 200 + ReLU + batch norm, dense 50,
      sigmoid.

    Examples
    --------
    With random weights (:func:`~bag_of_songs.embeddings.musicnn.load_musicnn` loads the
    trained ones):

    >>> out = Musicnn().eval()(torch.zeros(2, 187, 96))
    >>> {name: tuple(t.shape) for name, t in out.items()}  # doctest: +NORMALIZE_WHITESPACE
    {'mean_pool': (2, 753), 'max_pool': (2, 753), 'penultimate': (2, 200),
     'logits': (2, 50), 'taggram': (2, 50)}
    """

    def __init__(self):
        super().__init__()
        self.bn_input = FrozenBatchNorm(1)
        self.timbral = nn.ModuleList([TimbralBlock(f, b, N_TIMBRAL) for f, b in TIMBRAL])
        self.temporal = nn.ModuleList([TemporalBlock(f, N_TEMPORAL) for f in TEMPORAL])
        n_front = len(TIMBRAL) * N_TIMBRAL + len(TEMPORAL) * N_TEMPORAL  # 561
        self.midend = nn.ModuleList([MidendBlock(n_front, N_MIDEND),
                                     MidendBlock(N_MIDEND, N_MIDEND),
                                     MidendBlock(N_MIDEND, N_MIDEND)])
        n_mid = n_front + 3 * N_MIDEND  # 753
        self.bn_pool = FrozenBatchNorm(2 * n_mid)
        self.dense = nn.Linear(2 * n_mid, N_UNITS, dtype=torch.float32)
        self.bn_dense = FrozenBatchNorm(N_UNITS)
        self.output = nn.Linear(N_UNITS, N_CLASSES, dtype=torch.float32)

    def forward(self, x):
        x = self.bn_input(x.unsqueeze(1))  # (B, 1, T, 96)
        front = torch.cat([blk(x) for blk in (*self.timbral, *self.temporal)], dim=1)
        del x
        m1 = self.midend[0](front)
        m2 = self.midend[1](m1) + m1
        m3 = self.midend[2](m2) + m2
        features = torch.cat([front, m1, m2, m3], dim=1)  # (B, 753, T)
        del front, m1, m2, m3
        max_pool = features.amax(dim=2)
        mean_pool = features.mean(dim=2)
        # TF concatenates (B, 753, 1) max and mean on the last axis, then flattens: the
        # dense layer sees them interleaved, max_0, mean_0, max_1, mean_1, ...
        pooled = torch.stack([max_pool, mean_pool], dim=2).reshape(features.shape[0], -1)
        penultimate = self.bn_dense(F.relu(self.dense(self.bn_pool(pooled))))
        logits = self.output(penultimate)
        return {"mean_pool": mean_pool, "max_pool": max_pool, "penultimate": penultimate,
                "logits": logits, "taggram": torch.sigmoid(logits)}
