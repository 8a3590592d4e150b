"""Zero-shot genres from MTT_musicnn's tags: known answers on made-up tag scores."""

import numpy as np
import pandas as pd
import pytest

from bag_of_songs.errors import MusicnnError
from bag_of_songs.musicnn import GENRE_TAGS, musicnn_tags, zero_shot_genres

TAGS = musicnn_tags("MTT_musicnn")


def _scores(**loud):
    """One clip per keyword: every tag at 0.05 except the named ones at 0.9."""
    rows = []
    for tags in loud.values():
        row = pd.Series(0.05, index=TAGS)
        row[list(tags)] = 0.9
        rows.append(row)
    return pd.DataFrame(rows, index=list(loud))


def test_every_mapped_tag_is_an_mtt_tag():
    assert {t for tags in GENRE_TAGS.values() for t in tags} <= set(TAGS)


def test_known_answers_and_class_names_as_corpora_spell_them():
    scores = _scores(a=["classical", "violin"], b=["techno", "beats"], c=["pop", "female vocal"],
                     d=["rock", "guitar", "drums"])
    table = zero_shot_genres(scores, ["classical", "electronic", "pop", "rock"])
    assert table["genre"].tolist() == ["classical", "electronic", "pop", "rock"]
    assert list(table.columns) == ["classical", "electronic", "pop", "rock", "genre"]
    expected = scores.loc["a", list(GENRE_TAGS["classical"])].mean()
    assert table.loc["a", "classical"] == pytest.approx(expected)
    coarse = zero_shot_genres(scores, ["Classic", "Non_classic"])  # CCMusic's spelling
    assert coarse["genre"].tolist() == ["Classic", "Non_classic", "Non_classic", "Non_classic"]
    demo = zero_shot_genres(scores, ["Dance_and_house", "Rock", "Solo", "Symphony"])
    assert demo.loc["b", "genre"] == "Dance_and_house" and demo.loc["d", "genre"] == "Rock"


def test_a_tie_goes_to_the_first_class_and_nothing_is_nan():
    flat = pd.DataFrame([np.full(len(TAGS), 0.2)], columns=TAGS)
    table = zero_shot_genres(flat, ["rock", "pop"])
    assert table["genre"].tolist() == ["rock"] and not table.isna().any().any()


def test_unmapped_classes_and_foreign_tags_are_refused():
    scores = _scores(a=["rock"])
    with pytest.raises(MusicnnError, match="no tags are mapped"):
        zero_shot_genres(scores, ["rock", "Uplifting_anthemic_rock"])
    with pytest.raises(MusicnnError, match="not columns"):
        zero_shot_genres(scores, ["rock"], genre_tags={"rock": ["heavy metal"]})
