"""The clip-level scores' old home: they live in :mod:`bag_of_songs.metrics` (torch-free)."""

from __future__ import annotations

from ..metrics import clip_metrics, log_loss


def _clip_metrics(proba, y, n_classes: int) -> dict:
    """:func:`bag_of_songs.metrics.clip_metrics` (``n_classes`` is not needed)."""
    return clip_metrics(proba, y)


__all__ = ["log_loss", "clip_metrics"]
