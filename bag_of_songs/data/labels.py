"""The label vocabulary of the corpus: CCMusic's three levels, the classes of each, how they
nest, and the old spellings some sources still use.

The demo corpus and CCMusic's extracted ``audio.zip`` are labelled with the same levels;
:func:`bag_of_songs.data.label_hierarchy` fills in the classes a table lacks from
:data:`CCMUSIC_HIERARCHY`. Re-exported by :mod:`bag_of_songs.data`.

Explained in ``notebooks/1-data-preparation.ipynb`` (section 2, label levels).

Examples
--------
>>> LEVELS[0], CCMUSIC_CLASSES[LEVELS[0]]
('fst_level_label', ['Classic', 'Non_classic'])
>>> CCMUSIC_HIERARCHY["Rock"][0]
'Non_classic'
"""

from __future__ import annotations

from .._constants import LEVELS

__all__ = ["LEVELS", "CCMUSIC_CLASSES", "CCMUSIC_HIERARCHY", "CLASS_ALIASES"]

#: CCMusic class names per level, in the order of the dataset's ``ClassLabel``s.
CCMUSIC_CLASSES = {
    "fst_level_label": ["Classic", "Non_classic"],
    "sec_level_label": [
        "Symphony", "Opera", "Solo", "Chamber", "Pop", "Dance_and_house", "Indie",
        "Soul_or_RnB", "Rock",
    ],
    "thr_level_label": [
        "Symphony", "Opera", "Solo", "Chamber", "Pop_vocal_ballad", "Adult_contemporary",
        "Teen_pop", "Contemporary_dance_pop", "Dance_pop", "Classic_indie_pop",
        "Chamber_cabaret_and_art_pop", "Soul_or_RnB", "Adult_alternative_rock",
        "Uplifting_anthemic_rock", "Soft_rock", "Acoustic_pop",
    ],
}

#: How the CCMusic levels nest: second-level class -> (first-level class, third-level classes).
CCMUSIC_HIERARCHY = {
    "Symphony": ("Classic", ["Symphony"]),
    "Opera": ("Classic", ["Opera"]),
    "Solo": ("Classic", ["Solo"]),
    "Chamber": ("Classic", ["Chamber"]),
    "Pop": ("Non_classic", ["Pop_vocal_ballad", "Adult_contemporary", "Teen_pop"]),
    "Dance_and_house": ("Non_classic", ["Contemporary_dance_pop", "Dance_pop"]),
    "Indie": ("Non_classic", ["Classic_indie_pop", "Chamber_cabaret_and_art_pop"]),
    "Soul_or_RnB": ("Non_classic", ["Soul_or_RnB"]),
    "Rock": ("Non_classic", [
        "Adult_alternative_rock", "Uplifting_anthemic_rock", "Soft_rock", "Acoustic_pop",
    ]),
}

# Older revisions of the CCMusic loading script spell some classes differently.
CLASS_ALIASES = {"Soul_or_r_and_b": "Soul_or_RnB"}
