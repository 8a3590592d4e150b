"""Re-running reuses what is up to date and says what it replaces (issue 16, item 9).

A second ``run`` with the same settings reuses the feature tables and every saved model whose
``trained_on`` record matches, and says so; ``features`` with other settings names the tables it
replaces, and with the same settings reuses them (``--force`` rebuilds); ``evaluate`` of a model
on a table built with other settings names both settings and the command that rebuilds them,
instead of listing missing columns.
"""

from __future__ import annotations

import shutil

import pytest

from bag_of_songs.cli import main
from bag_of_songs.models import features_command, load_model, training_record


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def data(demo_dir, tmp_path):
    """A copy of the demo corpus (modification times kept: the tables stay current)."""
    out = tmp_path / "data"
    shutil.copytree(demo_dir, out, ignore=shutil.ignore_patterns("cache", "no-audio-here"))
    return out


def stamps(data_dir):
    return {p: p.stat().st_mtime_ns for p in sorted(data_dir.glob("*/features.*"))}


def test_features_reused_when_up_to_date_and_rebuilt_with_force(data, capsys):
    before = stamps(data)
    status, out, err = run_cli(capsys, "features", data, "--n-jobs", "1")
    assert status == 0
    assert "features: up to date, reused (20 clips in 3 splits; feature_set=seed, stats=mean" \
        in err
    assert stamps(data) == before  # nothing rewritten
    status, _, err = run_cli(capsys, "features", data, "--n-jobs", "1", "--force", "--quiet")
    # Rebuilt: one line per split, no progress bar (--quiet), no "up to date".
    assert status == 0 and "up to date" not in err and "it/s" not in err
    assert err.count("columns ->") == 3
    assert stamps(data) != before


def test_features_with_other_settings_says_what_it_replaces(data, capsys):
    status, _, err = run_cli(capsys, "features", data, "--n-jobs", "1", "--stats", "mean,std")
    assert status == 0
    assert ("replacing the feature tables (feature_set=seed, stats=mean) with feature_set=seed, "
            "stats=mean,std") in err
    assert "up to date" not in err
    status, _, err = run_cli(capsys, "features", data, "--n-jobs", "1", "--stats", "mean,std")
    assert "features: up to date, reused" in err and "replacing" not in err


def test_stale_tables_are_rebuilt_saying_why(data, capsys):
    (data / "test" / "features.csv").write_text("audio_file\n")  # damaged
    status, _, err = run_cli(capsys, "features", data, "--n-jobs", "1")
    assert status == 0
    assert "rebuilding the feature tables: " in err and "re-run" not in err
    assert "up to date" not in err


def test_evaluate_on_a_table_with_other_settings_names_both(data, tmp_path, capsys):
    model = tmp_path / "svc"
    assert main(["train", str(data), "--model", "logreg", "--label-column", "fst_level_label",
                 "--out", str(model), "--selection", "split", "--quiet"]) == 0
    assert main(["features", str(data), "--stats", "std", "--n-jobs", "1", "--quiet"]) == 0
    status, out, err = run_cli(capsys, "evaluate", model, data)
    assert status == 2 and out == "" and "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: this model was trained on features with feature_set=seed, "
                           "stats=mean; the table in ")
    assert "was built with feature_set=seed, stats=std" in line
    assert f"re-run `bag-of-songs features {data} --feature-set seed --stats mean`" in line
    assert "missing from the table" not in line
    # Same columns, other rows (3 s segments): refused too, naming the setting.
    assert main(["features", str(data), "--stats", "mean", "--segment", "3", "--n-jobs", "1",
                 "--quiet"]) == 0
    status, _, err = run_cli(capsys, "evaluate", model, data)
    assert status == 2 and "segment=3 s" in err and "differs in segment" in err
    # Rebuilt as the message says: evaluates again.
    assert main(["features", str(data), "--n-jobs", "1", "--quiet"]) == 0
    status, out, _ = run_cli(capsys, "evaluate", model, data)
    assert status == 0 and "accuracy" in out


def test_features_command_repeats_the_settings():
    settings = {"feature_set": "seed+musicnn", "stats": ["mean", "std"], "n_mfcc": 20,
                "segment": 3.0, "segment_hop": 1.5, "musicnn_model": "MSD_musicnn",
                "musicnn_layer": "taggram"}
    assert features_command("d", settings) == (
        "bag-of-songs features d --feature-set seed+musicnn --stats mean,std --n-mfcc 20 "
        "--segment 3 --segment-hop 1.5 --musicnn-model MSD_musicnn --musicnn-layer taggram")


def test_second_run_reuses_features_and_models(tmp_path, capsys):
    out_dir = tmp_path / "run"
    argv = ["run", "--out", out_dir, "--demo-size", "3", "--models", "logreg",
            "--level", "fst_level_label", "--n-jobs", "1"]
    status, _, err = run_cli(capsys, *argv)
    assert status == 0, err
    assert "training logreg" in err and "up to date" not in err
    saved = out_dir / "models" / "logreg-fst_level_label"
    first = (saved / "model.json").stat().st_mtime_ns
    record = load_model(saved).info["trained_on"]
    assert record == training_record(out_dir, kind="logreg", label_column="fst_level_label",
                                     seed=0, selection="auto")
    assert set(record["tables"]) == {"train", "validation"}

    status, shown, err = run_cli(capsys, *argv)
    assert status == 0, err
    assert "features: up to date, reused (12 clips in 3 splits" in err
    assert "[1/1] model logreg-fst_level_label: up to date, reused; test macro F1" in err
    assert "training logreg" not in err
    assert (saved / "model.json").stat().st_mtime_ns == first
    assert "logreg" in shown and (out_dir / "results.csv").exists()

    # Other options: the model is replaced, and the log says so.
    status, _, err = run_cli(capsys, *argv, "--selection", "split")
    assert status == 0, err
    assert "replacing model logreg-fst_level_label (trained on other data/settings)" in err
    assert "training logreg" in err
    assert (saved / "model.json").stat().st_mtime_ns != first

    # --force retrains (and rebuilds the tables) even when everything is up to date.
    status, _, err = run_cli(capsys, *argv, "--selection", "split", "--force")
    assert status == 0, err
    assert "up to date" not in err and "training logreg" in err
