"""--preset: named settings that fill the options left at their defaults."""

import json

import pytest

from bag_of_songs.cli import main
from bag_of_songs.cli.entry import _fill_preset
from bag_of_songs.cli.parser import build_parser
from bag_of_songs.presets import PRESETS


def _args(*argv):
    parser = build_parser()
    args = parser.parse_args(list(argv))
    _fill_preset(parser, args)
    return args


def test_every_preset_option_is_an_option_of_features_and_run():
    parser = build_parser()
    for preset in PRESETS.values():
        for dest in preset:
            assert parser.subcommands["run"].get_default(dest) is not None or dest in (
                "musicnn_model", "musicnn_layer"), dest
            if dest != "models":
                assert dest in vars(parser.parse_args(["features", "d"]))


def test_best_fills_what_was_left_at_its_default_and_the_command_line_wins():
    a = _args("run", "--preset", "best", "--stats", "median")
    assert (a.feature_set, a.musicnn_model, a.musicnn_layer, a.models) == (
        "musicnn", "MSD_musicnn,MTT_musicnn", "penultimate", "logreg,lda,linsvc")
    assert a.stats == "median"
    f = _args("features", "d", "--preset", "best")
    assert (f.feature_set, f.stats, f.musicnn_model) == ("musicnn", "mean,std",
                                                         "MSD_musicnn,MTT_musicnn")
    assert _args("features", "d", "--preset", "study").feature_set == "seed"
    assert _args("features", "d").stats == "mean"


@pytest.mark.slow
def test_features_preset_best_writes_both_models_mean_and_std(tmp_path, capsys):
    data = tmp_path / "demo"
    assert main(["prepare", "demo", "--out", str(data), "--demo-size", "2", "--quiet"]) == 0
    assert main(["features", str(data), "--preset", "best", "--n-jobs", "1", "--quiet"]) == 0
    meta = json.loads((data / "train" / "features.json").read_text())
    assert meta["feature_set"] == "musicnn" and meta["stats"] == ["mean", "std"]
    assert meta["musicnn_model"] == ["MSD_musicnn", "MTT_musicnn"]
    assert len(meta["feature_columns"]) == 2 * 2 * 200
    assert meta["feature_columns"][200] == "mean_mtt_penultimate_0"
