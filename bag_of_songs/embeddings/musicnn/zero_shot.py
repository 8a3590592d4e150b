"""Genres with no training: MTT_musicnn's tags mapped to genres by hand.

musicnn's MagnaTagATune model was trained to tag music (``classical``, ``techno``, ``rock``,
``pop``, ``guitar``, ``violin``, ...), and several of its tags name or imply a genre.
:data:`GENRE_TAGS` maps genre names to such tags, chosen by hand from the tag list (not fitted to
any corpus); :func:`zero_shot_genres` scores each genre by the mean score of its tags over a
clip's patches and answers the best. No training data is seen, so it is a baseline that tells
how much of a genre the pretrained network already hears, not a model of the corpus: a trained
head on the embedding uses the same network and does better. MSD_musicnn's tags (Last.fm's)
have no ``classical`` tag, so the mapping is MTT's.

Explained in ``notebooks/5-pretrained-embeddings.ipynb`` (section 5).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .config import MusicnnError, musicnn_tags

_CLASSICAL = ("classical", "classic", "strings", "violin", "cello", "harpsichord", "opera",
              "choir", "choral", "harp", "flute")
_NON_CLASSICAL = ("rock", "pop", "techno", "electronic", "drums", "beat", "beats", "dance",
                  "synth", "metal", "country", "loud")

#: Genre name (compared lower-case, ``_`` and ``-`` as spaces) -> MTT_musicnn tags that speak
#: for it, chosen by hand from :func:`~.config.musicnn_tags` ("MTT_musicnn").
GENRE_TAGS: dict[str, tuple[str, ...]] = {
    "classical": _CLASSICAL,
    "classic": _CLASSICAL,
    "non classic": _NON_CLASSICAL,
    "symphony": ("classical", "strings", "violin", "cello", "choir", "choral"),
    "solo": ("piano", "harpsichord", "solo", "classical", "flute", "violin"),
    "electronic": ("techno", "electronic", "synth", "beat", "beats", "dance", "ambient"),
    "dance and house": ("dance", "techno", "beat", "beats", "electronic"),
    "dance": ("dance", "techno", "beat", "beats", "electronic"),
    "pop": ("pop", "female vocal", "female voice", "female", "woman", "vocal", "singing"),
    "rock": ("rock", "guitar", "drums", "loud", "metal"),
    "metal": ("metal", "loud", "rock"),
    "country": ("country", "guitar"),
}


def _key(name: str) -> str:
    return str(name).lower().replace("_", " ").replace("-", " ").strip()


def zero_shot_genres(scores: pd.DataFrame, classes: Sequence[str], *,
                     genre_tags: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """Each clip's genre among ``classes`` from its tag scores alone (no training).

    Parameters
    ----------
    scores : pandas.DataFrame [shape=(n_clips, 50)]
        Mean tag scores, one column per MTT_musicnn tag (``tag_files(paths,
        model="MTT_musicnn")``).
    classes : sequence of str
        The genres to choose from; each must be in ``genre_tags`` (compared lower-case, ``_``
        and ``-`` as spaces).
    genre_tags : mapping, optional
        Genre -> tags; default :data:`GENRE_TAGS`.

    Returns
    -------
    table : pandas.DataFrame [shape=(n_clips, len(classes) + 1)]
        The index of ``scores``; one column per class (the mean score of its tags) and
        ``genre``, the best (the first of ``classes`` on a tie).

    Raises
    ------
    MusicnnError
        A class with no tags in the mapping, or a mapped tag that is not a column of
        ``scores``.

    Examples
    --------
    >>> tags = musicnn_tags("MTT_musicnn")
    >>> scores = pd.DataFrame([np.full(50, 0.01)] * 2, columns=tags, index=["a", "b"])
    >>> scores.loc["a", "classical"], scores.loc["b", "techno"] = 0.9, 0.8
    >>> zero_shot_genres(scores, ["Classic", "Non_classic"])["genre"].tolist()
    ['Classic', 'Non_classic']
    """
    mapping = {_key(k): tuple(v) for k, v in (genre_tags or GENRE_TAGS).items()}
    missing = [c for c in classes if _key(c) not in mapping]
    if missing:
        raise MusicnnError(f"no tags are mapped to {missing}: give genre_tags for them (tags "
                           f"among musicnn_tags('MTT_musicnn'))")
    out = pd.DataFrame(index=scores.index)
    for c in classes:
        tags = mapping[_key(c)]
        unknown = [t for t in tags if t not in scores.columns]
        if unknown or not tags:
            raise MusicnnError(f"{c!r}: tag(s) {unknown or '(none)'} are not columns of the "
                               "scores (MTT_musicnn's tags)")
        out[str(c)] = scores[list(tags)].to_numpy(dtype=np.float64).mean(axis=1)
    values = out.to_numpy()
    out["genre"] = [str(classes[i]) for i in values.argmax(axis=1)] if len(out) else []
    return out


__all__ = ["GENRE_TAGS", "zero_shot_genres", "musicnn_tags"]
