"""The networks: the convolutional trunk, the spectrogram CNN and the hybrid.

Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (sections 2 and 4).

Network
-------
A compact version of the *short-chunk CNN* of Won, Ferraro, Bogdanov and Serra, "Evaluation of
CNN-based automatic music tagging models", SMC 2020 (code: ``minzwon/sota-music-tagging-models``):
named blocks (:mod:`bag_of_songs.cnn.blocks`: :class:`ConvBlock`, 3x3 conv, batch norm, ReLU,
2x2 max-pool, and :class:`ResBlock`, the same with two convolutions and a residual path, as
their ``Res_2d``), then global average **and** max pooling over frequency and time (an
embedding of twice the last channel count), dropout and a linear head. With the default
channels (8, 16, 32, 64; the last block residual) it has about 64 k parameters: small enough to
train on a 2-core CPU (on the 120 Emotify clips, artist-grouped, it scored as well as or better
than 16-32-64-64 at half the cost). As in the paper, it is trained on short random crops of
each clip (default 129 frames = 3.0 s; four fresh crops of every clip each epoch:
augmentation), and a clip is decided by averaging the class probabilities of all its crops.
Two classes use two outputs and the same cross-entropy as more classes (one code path; the
probabilities are a softmax).

Hybrid
------
:class:`HybridNet` is **early (feature-level) fusion**: the CNN's pooled embedding concatenated
with the clip's scaled hand-crafted features (one vector per clip, e.g. the mean and std feature
columns scaled with the training statistics, passed by the caller aligned with the clips), fed
to an MLP head (Linear-``hidden``, ReLU, dropout, Linear-``n_classes``) and trained end to end,
so the CNN can learn what the features miss. The alternative is **late fusion**: train the CNN
and a feature model (the MLP, the SVC) separately and average their class probabilities
(:mod:`bag_of_songs.cnn.fusion`), or stack them with a logistic regression on their
probabilities (which needs out-of-fold predictions on the training clips, costly with a CNN).
We build the early-fusion network because the study's future work asks for one model on both
inputs, and because it lets each crop's decision use the features; late fusion is kept as the
baseline it must beat, since on small corpora the features alone are strong and a jointly
trained network may lean on them and leave its CNN branch under-trained.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from ..errors import CNNError
from .blocks import BLOCKS


class SpectrogramEncoder(nn.Module):
    """The convolutional trunk: blocks, then global average and max pooling.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 2).

    Parameters
    ----------
    n_mels : int
        Mel bands of the input (checked on every call).
    channels : sequence of int
        Output channels of each block.
    blocks : sequence of {"conv", "res"}
        The kind of each block (same length as ``channels``).

    Attributes
    ----------
    embedding_dim : int
        ``2 * channels[-1]``: the average-pooled then the max-pooled channels.
    """

    def __init__(self, n_mels: int = 96, *, channels: Sequence[int] = (8, 16, 32, 64),
                 blocks: Sequence[str] = ("conv", "conv", "conv", "res")):
        super().__init__()
        channels, blocks = [int(c) for c in channels], [str(b) for b in blocks]
        if not channels or len(channels) != len(blocks) or min(channels) < 1:
            raise CNNError(f"channels and blocks must be non-empty and of the same length, got "
                           f"{channels} and {blocks}")
        bad = [b for b in blocks if b not in BLOCKS]
        if bad:
            raise CNNError(f"unknown block kind(s) {bad}; choose from {sorted(BLOCKS)}")
        self.n_mels = int(n_mels)
        self.channels, self.block_kinds = channels, blocks
        layers, c_in = [], 1
        for i, (c, kind) in enumerate(zip(channels, blocks, strict=True)):
            layers.append((f"block{i + 1}", BLOCKS[kind](c_in, c)))
            c_in = c
        self.blocks = nn.Sequential(OrderedDict(layers))
        self.embedding_dim = 2 * channels[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embeddings of crops.

        Parameters
        ----------
        x : torch.Tensor [shape=(batch, n_mels, frames) or (batch, 1, n_mels, frames)]
            Normalised log-mel crops.

        Returns
        -------
        embedding : torch.Tensor [shape=(batch, embedding_dim)]
        """
        if x.dim() == 3:
            x = x.unsqueeze(1)
        if x.dim() != 4 or x.shape[1] != 1 or x.shape[2] != self.n_mels:
            raise CNNError(f"expected crops of shape (batch, {self.n_mels}, frames), got "
                           f"{tuple(x.shape)}")
        h = self.blocks(x)
        return torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)


class SpectrogramCNN(nn.Module):
    """Compact short-chunk CNN on log-mel crops.

    After the short-chunk CNN of Won, Ferraro, Bogdanov and Serra, "Evaluation of CNN-based
    automatic music tagging models", SMC 2020: a stack of conv-BN-ReLU-max-pool blocks (here
    four, the last residual, 8-16-32-64 channels instead of their seven of 128), global
    pooling (average and max), dropout and one linear layer, trained on short random crops and
    averaged over all crops of a clip at test time (:func:`predict_clip_proba`).

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 2).

    Parameters
    ----------
    n_mels : int
        Mel bands of the input (96).
    n_classes : int >= 2
        One output (logit) per class, also for two classes (softmax and cross-entropy).
    channels, blocks
        See :class:`SpectrogramEncoder`.
    dropout : float
        Dropout before the head (0.5).
    """

    def __init__(self, n_mels: int = 96, n_classes: int = 2, *,
                 channels: Sequence[int] = (8, 16, 32, 64),
                 blocks: Sequence[str] = ("conv", "conv", "conv", "res"), dropout: float = 0.5):
        super().__init__()
        if int(n_classes) < 2:
            raise CNNError(f"need at least two classes, got n_classes={n_classes}")
        if not 0.0 <= float(dropout) < 1.0:
            raise CNNError(f"dropout must lie in [0, 1), got {dropout}")
        self.n_classes, self.dropout_p = int(n_classes), float(dropout)
        self.encoder = SpectrogramEncoder(n_mels, channels=channels, blocks=blocks)
        self.dropout = nn.Dropout(self.dropout_p)
        self.head = nn.Linear(self.encoder.embedding_dim, self.n_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled embedding of crops ``x`` [batch, n_mels, frames] -> [batch, 2 C]."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor, tab: torch.Tensor | None = None) -> torch.Tensor:
        """Class logits [batch, n_classes] of crops ``x`` [batch, n_mels, frames].

        ``tab`` is accepted and ignored, so both model classes take the same arguments.
        """
        return self.head(self.dropout(self.encoder(x)))


class HybridNet(nn.Module):
    """Early fusion: the CNN's pooled embedding and the clip's scaled features, one MLP head.

    ``logits = head([encoder(crop), tab])`` with ``head`` = Linear(embedding + ``n_tab`` ->
    ``hidden``), ReLU, dropout, Linear(``hidden`` -> ``n_classes``); dropout is also applied to
    the embedding. Every crop of a clip is paired with that clip's feature vector. See the
    module docstring for the design and the late-fusion alternative.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 4).

    Parameters
    ----------
    n_mels : int
    n_classes : int >= 2
    n_tab : int >= 1
        Length of the hand-crafted feature vector (e.g. 64 for mean and std of the 32).
    channels, blocks
        See :class:`SpectrogramEncoder`.
    hidden : int
        Width of the head's hidden layer (64).
    dropout : float
    """

    def __init__(self, n_mels: int = 96, n_classes: int = 2, n_tab: int = 32, *,
                 channels: Sequence[int] = (8, 16, 32, 64),
                 blocks: Sequence[str] = ("conv", "conv", "conv", "res"), hidden: int = 64,
                 dropout: float = 0.5):
        super().__init__()
        if int(n_classes) < 2:
            raise CNNError(f"need at least two classes, got n_classes={n_classes}")
        if int(n_tab) < 1 or int(hidden) < 1:
            raise CNNError(f"n_tab and hidden must be >= 1, got {n_tab} and {hidden}")
        if not 0.0 <= float(dropout) < 1.0:
            raise CNNError(f"dropout must lie in [0, 1), got {dropout}")
        self.n_classes, self.n_tab, self.hidden = int(n_classes), int(n_tab), int(hidden)
        self.dropout_p = float(dropout)
        self.encoder = SpectrogramEncoder(n_mels, channels=channels, blocks=blocks)
        self.dropout = nn.Dropout(self.dropout_p)
        self.head = nn.Sequential(
            nn.Linear(self.encoder.embedding_dim + self.n_tab, self.hidden), nn.ReLU(),
            nn.Dropout(self.dropout_p), nn.Linear(self.hidden, self.n_classes))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The CNN branch's pooled embedding of crops ``x`` (as :meth:`SpectrogramCNN.embed`)."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor, tab: torch.Tensor | None = None) -> torch.Tensor:
        """Class logits [batch, n_classes] of crops ``x`` and their clips' features ``tab``.

        Parameters
        ----------
        x : torch.Tensor [shape=(batch, n_mels, frames)]
        tab : torch.Tensor [shape=(batch, n_tab)]
            Scaled hand-crafted features of each crop's clip.
        """
        if tab is None or tab.dim() != 2 or tab.shape[1] != self.n_tab:
            raise CNNError(f"the hybrid model needs features of shape (batch, {self.n_tab}), "
                           f"got {None if tab is None else tuple(tab.shape)}")
        return self.head(torch.cat([self.dropout(self.encoder(x)), tab], dim=1))


def architecture(module: nn.Module) -> dict:
    """Every constructor argument of a :class:`SpectrogramCNN` or :class:`HybridNet` (JSON).

    With :func:`build_from_architecture`, what a saved model needs to rebuild its module before
    loading the ``state_dict`` (with ``weights_only=True``).

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 2).

    Parameters
    ----------
    module : SpectrogramCNN or HybridNet

    Returns
    -------
    arch : dict
        ``class`` (``"SpectrogramCNN"`` or ``"HybridNet"``), ``n_mels``, ``n_classes``,
        ``channels``, ``blocks``, ``dropout``; for the hybrid also ``n_tab`` and ``hidden``.

    Raises
    ------
    CNNError
        For any other module.
    """
    if not isinstance(module, (SpectrogramCNN, HybridNet)):
        raise CNNError(f"expected a SpectrogramCNN or HybridNet, got {type(module).__name__}")
    enc = module.encoder
    arch = {"class": type(module).__name__, "n_mels": enc.n_mels, "n_classes": module.n_classes,
            "channels": list(enc.channels), "blocks": list(enc.block_kinds),
            "dropout": module.dropout_p}
    if isinstance(module, HybridNet):
        arch.update({"n_tab": module.n_tab, "hidden": module.hidden})
    return arch


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters of a module.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 2).
    """
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad))


def summarize(module: nn.Module, *, crop_frames: int = 129) -> str:
    """A printable summary: each block's output shape and parameters, and the total.

    Explained in ``notebooks/4-spectrogram-cnn.ipynb`` (section 2: ``print(summarize(m))``).

    Parameters
    ----------
    module : SpectrogramCNN or HybridNet
    crop_frames : int
        Frames of the example crop pushed through to find the shapes.

    Returns
    -------
    summary : str
        One line per block (name, kind, output shape for one crop, parameters), the pooled
        embedding, the head, and the total parameter count.
    """
    arch = architecture(module)
    enc = module.encoder
    rows = [("input", "log-mel crop", (1, enc.n_mels, crop_frames), 0)]
    x = torch.zeros(1, 1, enc.n_mels, crop_frames)
    was_training = module.training
    module.eval()
    with torch.no_grad():
        for name, block in enc.blocks.named_children():
            x = block(x)
            rows.append((name, type(block).__name__, tuple(x.shape[1:]),
                         count_parameters(block)))
    rows.append(("pool", "global avg + max", (enc.embedding_dim,), 0))
    if isinstance(module, HybridNet):
        rows.append(("features", "scaled hand-crafted", (module.n_tab,), 0))
        rows.append(("head", f"MLP {enc.embedding_dim + module.n_tab}-{module.hidden}-"
                             f"{module.n_classes}", (module.n_classes,),
                     count_parameters(module.head)))
    else:
        rows.append(("head", f"dropout {module.dropout_p:g} + linear", (module.n_classes,),
                     count_parameters(module.head)))
    module.train(was_training)
    lines = [f"{arch['class']} (after Won et al. 2020, short-chunk CNN)",
             f"{'layer':<10} {'kind':<26} {'output shape':<16} {'parameters':>10}"]
    lines += [f"{n:<10} {k:<26} {str(s):<16} {p:>10,}" for n, k, s, p in rows]
    lines.append(f"total trainable parameters: {count_parameters(module):,}")
    return "\n".join(lines)
