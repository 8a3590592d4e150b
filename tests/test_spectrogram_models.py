"""The spectrogram CNN and the hybrid as model kinds beside the MLP, SVC and random forest:
training on a prepared folder, per-clip evaluation, safe saving, prediction of new files, the
CLI, and the comparison table (issue 9). The networks themselves are tested in test_cnn.py."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from bag_of_songs.cli import main
from bag_of_songs.features import StaleFeaturesError
from bag_of_songs.models import (
    ModelError,
    compare_models,
    evaluate,
    load_model,
    predict_clips,
    predict_file,
    read_features,
    save_model,
    train_on_folder,
)

FAST = {"epochs": 3, "crops_per_clip": 2}


@pytest.fixture(scope="module")
def trained(demo_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("spectrogram-models")
    out = {}
    for kind in ("cnn", "hybrid"):
        model, history = train_on_folder(demo_dir, kind=kind, label_column="thr_level_label",
                                         seed=0, n_jobs=2, spectrogram_options=FAST)
        out[kind] = (model, history, save_model(model, root / kind))
    return out


@pytest.mark.parametrize("kind", ["cnn", "hybrid"])
def test_train_evaluate_save_load_predict(trained, demo_dir, kind):
    model, history, path = trained[kind]
    assert model.kind == kind and len(history) <= FAST["epochs"]
    assert model.info["selection"] == "validation split (early stopping)"
    assert (model.feature_columns == []) == (kind == "cnn")
    assert set(model.hierarchy) == {"fst_level_label", "sec_level_label"}
    test = read_features(demo_dir / "test")
    m = evaluate(model, test)
    assert m["n"] == len(test) and sum(map(sum, m["confusion_matrix"])) == len(test)
    coarse = evaluate(model, test, level="fst_level_label")
    assert coarse["classes"] == ["Classic", "Non_classic"]
    loaded = load_model(path)
    assert loaded.kind == kind and loaded.cnn == model.cnn
    assert evaluate(loaded, demo_dir / "test") == m
    clips, proba, _ = predict_clips(loaded, test)
    wav = demo_dir / test["audio_file"].iloc[0]
    p = predict_file(loaded, wav)["thr_level_label"]["probabilities"]
    np.testing.assert_allclose([p[c] for c in loaded.classes], proba[0], atol=1e-6)
    levels = predict_file(loaded, wav, levels="all")
    fine = levels["thr_level_label"]["genre"]
    assert loaded.hierarchy["fst_level_label"][fine] == levels["fst_level_label"]["genre"]


def test_seeded_training_repeats_exactly(trained, demo_dir):
    again, _ = train_on_folder(demo_dir, kind="cnn", label_column="thr_level_label", seed=0,
                               n_jobs=2, spectrogram_options=FAST)
    test = read_features(demo_dir / "test")
    np.testing.assert_array_equal(predict_clips(again, test)[1],
                                  predict_clips(trained["cnn"][0], test)[1])


def _copy(path, tmp_path):
    dst = tmp_path / "m"
    shutil.copytree(path, dst)
    return dst


def test_tampered_cnn_weights_are_refused(trained, tmp_path):
    path = _copy(trained["cnn"][2], tmp_path)
    meta = json.loads((path / "model.json").read_text())
    w = path / meta["weights_file"]
    w.write_bytes(w.read_bytes()[:-20] + b"\0" * 20)
    with pytest.raises(ModelError, match="checksum"):
        load_model(path)


@pytest.mark.parametrize("edit,field", [
    (lambda m: m["cnn"]["normalizer"].update(std=0.0), "cnn"),
    (lambda m: m["cnn"]["architecture"].update(n_classes=3), "cnn|architecture"),
    (lambda m: m.update(architecture={**m["architecture"], "n_classes": 9}), "architecture"),
    (lambda m: m["cnn"].update(crop_frames=100000), "cnn"),
    (lambda m: m.update(scaler={"mean": [0.0]}), "scaler"),
    (lambda m: m.update(feature_columns=["mean_rms"]), "feature_columns"),
    (lambda m: m.pop("cnn"), "cnn"),
    (lambda m: m["cnn"]["architecture"].update({"class": "HybridNet"}), "cnn|architecture"),
])
def test_invalid_cnn_model_json_names_the_field(trained, edit, field, tmp_path):
    path = _copy(trained["cnn"][2], tmp_path)
    meta = json.loads((path / "model.json").read_text())
    edit(meta)
    (path / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match=field):
        load_model(path)


def test_hybrid_needs_its_feature_columns(trained, tmp_path):
    path = _copy(trained["hybrid"][2], tmp_path)
    meta = json.loads((path / "model.json").read_text())
    meta["feature_columns"] = meta["feature_columns"][:-1]
    meta["scaler"] = {k: (v[:-1] if isinstance(v, list) else v)
                      for k, v in meta["scaler"].items()}
    (path / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="n_tab"):
        load_model(path)


def test_cnn_cannot_score_feature_rows(trained):
    with pytest.raises(ModelError, match="spectrograms"):
        trained["cnn"][0].predict_proba(np.zeros((1, 3)))
    frame = pd.DataFrame({"audio_file": ["x.wav"], "thr_level_label": ["Solo"]})
    with pytest.raises(ModelError, match="data_dir"):
        evaluate(trained["cnn"][0], frame)


def test_unreadable_clip_is_reported_not_a_crash(demo_dir, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(demo_dir, data, copy_function=lambda s, d: shutil.copy2(s, d))
    for split in ("train", "validation", "test"):
        shutil.rmtree(data / split / "cache", ignore_errors=True)
    ann = pd.read_csv(data / "test" / "annotations.csv")
    (data / ann["audio_file"].iloc[0]).write_bytes(b"not audio")
    model = load_model(save_model(train_on_folder(data, kind="cnn",
                                                  label_column="fst_level_label", seed=0,
                                                  n_jobs=1, spectrogram_options=FAST)[0],
                                  tmp_path / "m"))
    with pytest.raises(StaleFeaturesError, match=ann["audio_file"].iloc[0]):
        evaluate(model, data / "test")  # its table was built before the clip was spoilt
    with pytest.raises(ModelError, match="no cached spectrogram"):
        evaluate(model, read_features(data / "test", check=False))
    code = main(["predict", str(tmp_path / "m"), str(data / ann["audio_file"].iloc[0])])
    err = capsys.readouterr().err
    assert code == 2 and "error:" in err and "Traceback" not in err


def test_cli_train_and_compare(demo_dir, tmp_path, capsys):
    code = main(["train", str(demo_dir), "--model", "hybrid", "--label-column",
                 "fst_level_label", "--out", str(tmp_path / "h"), "--epochs", "2",
                 "--crops-per-clip", "1"])
    out, err = capsys.readouterr()
    assert code == 0 and "saved hybrid" in out and "epoch 1:" in err
    results = compare_models(demo_dir, levels=["fst_level_label"], kinds=("svc", "cnn"),
                             spectrogram_options=FAST, n_jobs=1)
    assert results["model"].tolist() == ["svc", "cnn"]
    assert results["f1_macro"].between(0, 1).all()


def test_cnn_group_by_is_honoured_and_evaluate_says_crops(demo_dir, tmp_path, capsys):
    """issue 16, item 10: --group-by keeps every group on one side of the clips the CNN is
    early-stopped on; the cache build shows a bar (not with --quiet); evaluate says crops."""
    from bag_of_songs.models import _spectrogram_hold_out, load_splits

    data = tmp_path / "data"
    shutil.copytree(demo_dir, data, ignore=shutil.ignore_patterns("cache", "no-audio-here"))
    rows, groups = [], {}
    for split in ("train", "validation", "test"):
        ann = pd.read_csv(data / split / "annotations.csv")
        for i, (f, src) in enumerate(zip(ann["audio_file"], ann["source"], strict=True)):
            rows.append({"path": src, "artist": f"a{i % 3}"})  # artists in every split
            groups[f] = f"a{i % 3}"
    pd.DataFrame(rows).to_csv(tmp_path / "manifest.csv", index=False)
    train_ds, val_ds, _ = load_splits(data, label_column="fst_level_label", groups=groups)
    tr, va, how = _spectrogram_hold_out("cnn", train_ds, val_ds, has_val=True, groups=groups,
                                        seed=0)
    assert how.startswith("grouped hold-out of train + validation")
    assert not {groups[f] for f in tr.frame["audio_file"]} & \
        {groups[f] for f in va.frame["audio_file"]}
    assert len(tr) + len(va) == len(train_ds) + len(val_ds)

    code = main(["train", str(data), "--model", "cnn", "--label-column", "fst_level_label",
                 "--out", str(tmp_path / "c"), "--epochs", "1", "--crops-per-clip", "1",
                 "--n-mels", "32", "--group-by", "artist", "--manifest",
                 str(tmp_path / "manifest.csv")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "grouped hold-out of train + validation (early stopping)" in out
    assert "in both train and validation" in err
    assert "log-mel train" in err  # the cache build shows its progress
    code = main(["evaluate", str(tmp_path / "c"), str(data), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0 and "log-mel" not in err  # --quiet: no bar
    n = len(pd.read_csv(data / "test" / "annotations.csv"))
    assert f"({n} clips, each decided by the mean of its 11 crops of 3.0 s;" in out
    assert "segments" not in out
