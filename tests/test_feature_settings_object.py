"""FeatureSettings: the one home of a table's settings (made, checked, turned back into keys)."""

import dataclasses

import pytest

from bag_of_songs import features as F
from bag_of_songs.errors import FeatureError


def test_defaults_are_the_study_and_the_keys_are_the_fields():
    s = F.FeatureSettings()
    assert (s.sr, s.n_fft, s.hop_length, s.n_mfcc, s.stats, s.feature_set) == (
        22050, 2048, 512, 13, ("mean",), "seed")
    assert F.SETTING_KEYS == tuple(f.name for f in dataclasses.fields(F.FeatureSettings))
    assert s.to_dict() == F.feature_settings()
    assert list(s.to_dict()) == [k for k in F.SETTING_KEYS if not k.startswith("musicnn")]


def test_frozen_normalised_and_round_trips():
    s = F.FeatureSettings(stats="mean,std", feature_set=["musicnn", "seed"], segment=3)
    assert s.stats == ("mean", "std") and s.feature_set == "seed+musicnn"
    assert (s.segment, s.segment_hop) == (3.0, 3.0)
    assert (s.musicnn_model, s.musicnn_layer) == ("MSD_musicnn", "penultimate")
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.sr = 16000
    plain = F.FeatureSettings(stats=("mean", "std"), n_mfcc=20)
    assert F.FeatureSettings.from_dict(plain.to_dict()) == plain
    assert hash(plain) == hash(F.FeatureSettings.from_dict(plain.to_dict()))


@pytest.mark.parametrize("kwargs, message", [
    ({"stats": "mean,mode"}, "pooling statistic"),
    ({"n_mfcc": 0}, "n_mfcc"),
    ({"segment_hop": 1.0}, "segment_hop needs segment"),
    ({"musicnn_layer": "penultimate"}, "no musicnn"),
    ({"feature_set": "deep"}, "feature"),
])
def test_a_bad_setting_is_refused_when_made(kwargs, message):
    with pytest.raises(FeatureError, match=message):
        F.FeatureSettings(**kwargs)


def test_from_dict_is_strict_about_json_types_and_keys():
    with pytest.raises(FeatureError, match=r"settings.stats must be a list"):
        F.FeatureSettings.from_dict({"stats": "mean"})
    with pytest.raises(FeatureError, match="unknown key"):
        F.FeatureSettings.from_dict({"colour": "blue"})
    meta = {**F.feature_settings(), "n_rows": 3, "label_columns": ["genre"]}
    assert F.FeatureSettings.from_dict(meta, ignore_unknown=True) == F.FeatureSettings()


def test_settings_or_keywords_not_both():
    assert F.as_settings(stats=["mean", "std"]) == F.FeatureSettings(stats="mean,std")
    assert F.as_settings({"n_mfcc": 20}) == F.FeatureSettings(n_mfcc=20)
    with pytest.raises(FeatureError, match="not both"):
        F.as_settings(F.FeatureSettings(), stats="mean")
    with pytest.raises(FeatureError, match="unknown extraction keyword"):
        F.as_settings(hop=3)


def test_extract_with_a_settings_object_equals_the_keywords():
    from bag_of_songs.demo import synthesize_demo_clip

    y = synthesize_demo_clip("rock", 1)
    s = F.FeatureSettings(stats="mean,std", n_mfcc=20)
    assert F.extract_with_settings(y, s.to_dict()) == F.extract_features(y, **s.keywords())
    assert F.extract_with_settings(y, s.to_dict()) == F.extract_features(
        y, stats=("mean", "std"), n_mfcc=20)


def test_a_table_built_from_a_settings_object_equals_one_from_keywords(demo_dir, tmp_path):
    a = F.extract_feature_table(demo_dir / "test", settings=F.FeatureSettings(stats="mean,std"),
                                n_jobs=1, progress=False)
    b = F.extract_feature_table(demo_dir / "test", stats=("mean", "std"), n_jobs=1,
                                progress=False)
    assert a.equals(b) and a.attrs["settings"] == b.attrs["settings"]
