"""Several musicnn models in one feature set (``musicnn_model=["MSD_musicnn", "MTT_musicnn"]``).

- Names and order of the columns, and the refusal of a model named twice, without the network.
- The strict settings check of a pair (lists of names and of checkpoint descriptions), and a
  single model's ``features.json`` keys exactly as they were before pairs existed.
- Through the real network, on a synthetic clip: the pair's columns are each single model's
  columns side by side, bit for bit (whole clip and 3 s segments), with one front end per clip
  and one decode per file.
- A pair table built by the CLI: its ``features.json``, a garbled list refused naming the key,
  and a table stale when one model's installed checkpoint changes.

Tests that need the checkpoints skip, naming the pip command, when the ``musicnn`` wheel is not
installed (with ``CI=true`` they fail instead).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from conftest import IN_CI

from bag_of_songs import features as F
from bag_of_songs import musicnn as mn
from bag_of_songs.cli import build_parser
from bag_of_songs.cli import main as cli_main
from bag_of_songs.demo import synthesize_demo_clip
from bag_of_songs.embeddings.musicnn import embed as musicnn_embed
from bag_of_songs.embeddings.musicnn import weights as musicnn_weights
from bag_of_songs.features import FeatureError, FeatureSettings, StaleFeaturesError
from bag_of_songs.features import sklearn as fx_module

PAIR = ["MSD_musicnn", "MTT_musicnn"]


def _block(stat: str, prefix: str, layer: str = "penultimate", n: int = 200) -> list[str]:
    return [f"{stat}_{prefix}_{layer}_{i}" for i in range(n)]


def _ms(model: str = "MSD_musicnn", **changes) -> dict:
    ms = {"sr": 16000, "n_fft": 512, "hop_length": 256, "n_mels": 96, "n_frames": 187,
          "log_compression": "log10(10000 * mel + 1)", "model": model,
          "layer": "penultimate", "n_dims": 200, "checkpoint_sha256": "ab" * 32}
    return {**ms, **changes}


@pytest.fixture(scope="module")
def checkpoints():
    try:
        return [mn.musicnn_checkpoint_dir(m) for m in PAIR]
    except mn.MusicnnError as exc:
        if IN_CI:
            pytest.fail(f"{exc} (CI=true requires the checkpoints)")
        pytest.skip(str(exc))


# ---------------------------------------------------------------------------------------------
# Without the network


def test_pair_columns_names_and_order():
    """For each statistic, each model's block in the order given; one model as before."""
    want = (_block("mean", "msd") + _block("mean", "mtt")
            + _block("std", "msd") + _block("std", "mtt"))
    for model in (PAIR, tuple(PAIR), "MSD_musicnn,MTT_musicnn", "MSD_musicnn, MTT_musicnn"):
        assert F.feature_names(feature_set="musicnn", stats=("mean", "std"),
                               musicnn_model=model) == want
    reverse = F.feature_names(feature_set="musicnn", musicnn_model=PAIR[::-1])
    assert reverse == _block("mean", "mtt") + _block("mean", "msd")
    seed = F.feature_names()
    assert F.feature_names(feature_set="seed+musicnn", musicnn_model=PAIR,
                           musicnn_layer="taggram") == (seed + _block("mean", "msd", "taggram", 50)
                                                        + _block("mean", "mtt", "taggram", 50))
    # A list of one model is that model.
    assert F.feature_names(feature_set="musicnn", musicnn_model=["MTT_musicnn"]) == \
        _block("mean", "mtt")
    assert FeatureSettings(feature_set="musicnn", musicnn_model=["MTT_musicnn"]).musicnn_model \
        == "MTT_musicnn"
    assert FeatureSettings(feature_set="musicnn", musicnn_model="MSD_musicnn,MTT_musicnn"
                           ).musicnn_model == tuple(PAIR)
    for bad in ("MSD_musicnn,MSD_musicnn", ["MSD_musicnn", "MSD_vgg"], [], "", 3):
        with pytest.raises(FeatureError, match="musicnn_model"):
            F.feature_names(feature_set="musicnn", musicnn_model=bad)
    with pytest.raises(FeatureError, match="no musicnn embedding"):
        F.feature_names(feature_set="seed", musicnn_model=PAIR)


def test_pair_settings_round_trip_and_garbled_lists_refused():
    good = {"feature_set": "seed+musicnn", "stats": ["mean", "std"], "musicnn_model": PAIR,
            "musicnn_layer": "penultimate",
            "musicnn_settings": [_ms("MSD_musicnn"), _ms("MTT_musicnn", checkpoint_sha256="cd" * 32)]}
    s = FeatureSettings.from_dict(good)
    assert s.musicnn_model == tuple(PAIR)
    d = s.to_dict()
    assert d["musicnn_model"] == PAIR and d["musicnn_settings"] == good["musicnn_settings"]
    assert json.loads(json.dumps(d)) == d
    assert FeatureSettings.from_dict(d) == s
    assert F.check_settings(good) == good
    ms = good["musicnn_settings"]
    bad = [
        ({**good, "musicnn_model": ["MSD_musicnn"]}, r"settings\.musicnn_model must be"),
        ({**good, "musicnn_model": ["MSD_musicnn", "MSD_musicnn"]}, r"settings\.musicnn_model"),
        ({**good, "musicnn_model": ["MSD_musicnn", "MSD_vgg"]}, r"settings\.musicnn_model"),
        ({**good, "musicnn_model": "MSD_musicnn,MTT_musicnn"}, r"settings\.musicnn_model"),
        ({**good, "musicnn_settings": ms[0]}, r"settings\.musicnn_settings must be a list of 2"),
        ({**good, "musicnn_settings": ms[:1]}, r"settings\.musicnn_settings must be a list of 2"),
        ({**good, "musicnn_settings": ms[::-1]}, r"settings\.musicnn_settings\[0\]\.model"),
        ({**good, "musicnn_settings": [ms[0], {**ms[1], "checkpoint_sha256": "xyz"}]},
         r"settings\.musicnn_settings\[1\]\.checkpoint_sha256"),
        ({**good, "musicnn_settings": [ms[0], {**ms[1], "n_dims": 50}]},
         r"settings\.musicnn_settings\[1\]\.n_dims"),
        ({**good, "musicnn_settings": [ms[0], "MTT"]}, r"settings\.musicnn_settings\[1\] must"),
        ({**good, "musicnn_model": "MSD_musicnn"}, r"settings\.musicnn_settings must be a mapping"),
    ]
    for settings, match in bad:
        with pytest.raises(FeatureError, match=match):
            F.check_settings(settings)
    # Made from keywords, the settings must have one description per model.
    with pytest.raises(FeatureError, match="musicnn_settings must be a list of 2"):
        FeatureSettings(feature_set="musicnn", musicnn_model=PAIR, musicnn_settings=ms[0])


def test_a_single_models_settings_keep_their_layout():
    """One model: ``musicnn_model`` a string and one ``musicnn_settings`` dict, keys in the
    order of features.json before pairs existed, so older tables and models stay valid."""
    layout = {"sr": 22050, "n_fft": 2048, "hop_length": 512, "n_mfcc": 13, "stats": ["mean"],
              "feature_set": "musicnn", "tuning": 0.0, "segment": None, "segment_hop": None,
              "musicnn_model": "MTT_musicnn", "musicnn_layer": "penultimate",
              "musicnn_settings": _ms("MTT_musicnn")}
    d = FeatureSettings.from_dict(layout).to_dict()
    assert d == layout and list(d) == list(layout)
    assert json.dumps(d) == json.dumps(layout)
    made = FeatureSettings(feature_set="musicnn", musicnn_model="MTT_musicnn",
                           musicnn_settings=_ms("MTT_musicnn")).to_dict()
    assert json.dumps(made) == json.dumps(layout)


def test_the_cli_option_parses():
    parser = build_parser()
    for command in (["features", "DIR"], ["run"]):
        args = parser.parse_args([*command, "--feature-set", "musicnn",
                                  "--musicnn-model", "MSD_musicnn,MTT_musicnn"])
        assert FeatureSettings(feature_set="musicnn", musicnn_model=args.musicnn_model
                               ).musicnn_model == tuple(PAIR)
        assert parser.parse_args([*command, "--musicnn-model", "MTT_musicnn"]
                                 ).musicnn_model == "MTT_musicnn"
        for bad in ("MSD_musicnn,MSD_musicnn", "MSD_musicnn,", "MSD_vgg"):
            with pytest.raises(SystemExit) as exc:
                parser.parse_args([*command, "--musicnn-model", bad])
            assert exc.value.code == 2


# ---------------------------------------------------------------------------------------------
# Through the network


def test_pair_is_each_single_model_side_by_side_bit_for_bit(checkpoints, monkeypatch):
    """The shared front end changes nothing: each model's block of the pair's row equals that
    model's own row exactly, for the whole clip and for 3 s segments; one front end per clip."""
    y = synthesize_demo_clip("rock", 3)
    calls = []
    real_input = musicnn_embed.musicnn_input
    monkeypatch.setattr(musicnn_embed, "musicnn_input",
                        lambda *a, **k: calls.append(1) or real_input(*a, **k))
    stats = ("mean", "std")
    pair = F.extract_features(y, feature_set="seed+musicnn", stats=stats, musicnn_model=PAIR)
    assert len(calls) == 1  # one front end for both networks
    singles = [F.extract_features(y, feature_set="seed+musicnn", stats=stats, musicnn_model=m)
               for m in PAIR]
    assert list(pair) == F.feature_names(feature_set="seed+musicnn", stats=stats,
                                         musicnn_model=PAIR)
    for single in singles:
        assert {k: pair[k] for k in single} == single  # == on floats: bit for bit
    assert set(pair) == set(singles[0]) | set(singles[1])

    calls.clear()
    seg = F.extract_features(y, feature_set="musicnn", stats=stats, segment=3.0,
                             musicnn_model="MSD_musicnn,MTT_musicnn")
    assert len(calls) == 1 and seg.shape == (10, 1 + 800)
    for m in PAIR:
        one = F.extract_features(y, feature_set="musicnn", stats=stats, segment=3.0,
                                 musicnn_model=m)
        np.testing.assert_array_equal(seg[one.columns].to_numpy(), one.to_numpy())


def test_feature_extractor_decodes_each_file_once(checkpoints, monkeypatch, tmp_path):
    paths = []
    for i, style in enumerate(("solo", "dance")):
        paths.append(tmp_path / f"{style}.wav")
        sf.write(paths[-1], synthesize_demo_clip(style, i, duration=6.0), 22050,
                 subtype="FLOAT")
    decodes, fronts = [], []
    real_load, real_input = fx_module.load_audio, musicnn_embed.musicnn_input
    monkeypatch.setattr(fx_module, "load_audio",
                        lambda *a, **k: decodes.append(1) or real_load(*a, **k))
    monkeypatch.setattr(musicnn_embed, "musicnn_input",
                        lambda *a, **k: fronts.append(1) or real_input(*a, **k))
    fx = F.FeatureExtractor(feature_set="musicnn", musicnn_model=PAIR, stats=("mean", "std"))
    fx.fit()  # checks the settings on a probe signal (one front end)
    fronts.clear()
    X = fx.transform([str(p) for p in paths])
    assert X.shape == (2, 800) and len(decodes) == 2 and len(fronts) == 2
    assert fx.get_feature_names_out()[200] == "mean_mtt_penultimate_0"
    rows = [F.extract_features(real_load(p), feature_set="musicnn", musicnn_model=m,
                               stats=("mean", "std")) for p in paths for m in PAIR]
    np.testing.assert_array_equal(X[1, 200:400], list(rows[3].values())[:200])


def test_a_pair_table_from_the_cli(checkpoints, tmp_path, monkeypatch, capsys):
    from bag_of_songs.data import prepare

    src = tmp_path / "src"
    for genre, style in (("classical", "solo"), ("rock", "rock")):
        (src / genre).mkdir(parents=True)
        sf.write(src / genre / "a.wav", synthesize_demo_clip(style, 0, duration=4.0), 22050,
                 subtype="FLOAT")
    data = tmp_path / "data"
    prepare(src, data, split="train", n_jobs=1, progress=False, log=lambda m: None)
    assert cli_main(["features", str(data), "--feature-set", "musicnn", "--stats", "mean,std",
                     "--musicnn-model", "MSD_musicnn,MTT_musicnn", "--n-jobs", "1",
                     "--quiet"]) == 0
    meta = F.check_feature_table(data / "train")
    assert meta["musicnn_model"] == PAIR
    assert [m["model"] for m in meta["musicnn_settings"]] == PAIR
    assert meta["musicnn_settings"] == [mn.musicnn_settings(m) for m in PAIR]
    assert meta["feature_columns"] == F.feature_names(feature_set="musicnn",
                                                      stats=("mean", "std"), musicnn_model=PAIR)
    assert F.check_musicnn_checkpoint(meta) == meta["musicnn_settings"]
    # One model's installed checkpoint changed: the table and its settings are stale.
    real_sha = musicnn_weights._checkpoint_sha256
    monkeypatch.setattr(musicnn_weights, "_checkpoint_sha256",
                        lambda folder: "0" * 64 if "MTT" in str(folder) else real_sha(folder))
    with pytest.raises(StaleFeaturesError, match="other musicnn weights"):
        F.check_feature_table(data / "train")
    with pytest.raises(F.EmbeddingError, match="other musicnn weights"):
        F.check_musicnn_checkpoint(meta)
    monkeypatch.undo()
    # A garbled list in features.json is refused, naming the key.
    meta_path = data / "train" / "features.json"
    garbled = json.loads(meta_path.read_text())
    garbled["musicnn_settings"][1]["layer"] = "taggram"
    meta_path.write_text(json.dumps(garbled))
    with pytest.raises(StaleFeaturesError, match=r"settings\.musicnn_settings\[1\]\.layer"):
        F.check_feature_table(data / "train")
    garbled["musicnn_settings"] = garbled["musicnn_settings"][0]
    meta_path.write_text(json.dumps(garbled))
    with pytest.raises(StaleFeaturesError, match=r"settings\.musicnn_settings must be a list"):
        F.check_feature_table(data / "train")
    capsys.readouterr()
