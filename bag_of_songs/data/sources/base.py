"""What every source yields: :class:`Item`, one clip to prepare, and the lazy list of them
that :func:`bag_of_songs.data.prepare` splits and decodes.

A folder, a Hugging Face dataset and the demo corpus each turn into items (their modules are
beside this one); labels, names and stamps are known up front, the audio is read only when a
worker decodes it. Re-exported by :mod:`bag_of_songs.data`.

Explained in ``notebooks/1-data-preparation.ipynb`` (section 1, the sources).

Examples
--------
>>> items = _Items.from_list([Item("a.wav", {"label": "rock"}, "path", "/music/a.wav"),
...                          Item("b.wav", {"label": "pop"}, "skip", "not audio")])
>>> len(items), items.problems
(2, [None, 'not audio'])
>>> items.subset([1])[0].source
'b.wav'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Item"]


@dataclass
class Item:
    """One clip to prepare: where it comes from, its labels, and how to get its audio.

    ``kind`` is ``"path"`` (``payload`` = a file path), ``"bytes"`` (the encoded file),
    ``"demo"`` (``(style, seed)``) or ``"skip"`` (``payload`` = why it cannot be prepared;
    reported in ``skipped.csv``). ``stamp`` identifies the version of the source (e.g. a
    file's size and mtime): a clip prepared from another version is prepared again.
    """

    source: str
    labels: dict
    kind: str
    payload: object = None
    stamp: str = ""


class _Items:
    """A lazy sequence of Items: labels, sources and stamps are known up front, audio is read
    on demand (keeps a Hugging Face dataset's audio bytes out of memory until needed)."""

    def __init__(self, labels: list[dict], sources: list[str], get: Callable[[int], Item], *,
                 stamps: list[str] | None = None, problems: list[str | None] | None = None):
        self.labels, self.sources, self._get = labels, sources, get
        self.stamps = stamps if stamps is not None else [""] * len(labels)
        self.problems = problems if problems is not None else [None] * len(labels)

    @classmethod
    def from_list(cls, items: list[Item]) -> _Items:
        return cls([it.labels for it in items], [it.source for it in items],
                   items.__getitem__, stamps=[it.stamp for it in items],
                   problems=[str(it.payload) if it.kind == "skip" else None for it in items])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> Item:
        return self._get(int(i))

    def subset(self, idx: list[int]) -> _Items:
        return _Items([self.labels[i] for i in idx], [self.sources[i] for i in idx],
                      lambda j: self._get(idx[j]), stamps=[self.stamps[i] for i in idx],
                      problems=[self.problems[i] for i in idx])

    @staticmethod
    def concat(parts: list[_Items]) -> _Items:
        owners = [(p, j) for p in parts for j in range(len(p))]
        return _Items([lab for p in parts for lab in p.labels],
                      [s for p in parts for s in p.sources],
                      lambda i: owners[i][0][owners[i][1]],
                      stamps=[s for p in parts for s in p.stamps],
                      problems=[s for p in parts for s in p.problems])
