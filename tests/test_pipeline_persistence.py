"""save_model / load_model of a fitted scikit-learn Pipeline of the project's estimators.

A round trip on synthetic clips (WAVs in tmp_path) predicts the same labels from paths; types
outside the allow-list, crafted arrays and tampered files are refused with ModelError.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from bag_of_songs.cli import main
from bag_of_songs.demo import synthesize_demo_clip
from bag_of_songs.features.sklearn import FeatureExtractor
from bag_of_songs.models import ModelError, load_model, predict_file, save_model
from bag_of_songs.models.estimators import StudyMLPClassifier
from bag_of_songs.models.segments import SegmentClassifier


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    paths, labels = [], []
    for style in ("rock", "solo"):
        for i in range(4):
            p = root / f"{style}{i}.wav"
            sf.write(p, synthesize_demo_clip(style, i, duration=3.0), 22050)
            paths.append(str(p))
            labels.append(style)
    return paths, labels


@pytest.fixture(scope="module")
def saved_svc(clips, tmp_path_factory):
    paths, y = clips
    pipe = make_pipeline(FeatureExtractor(), StandardScaler(), SVC()).fit(paths, y)
    return pipe, save_model(pipe, tmp_path_factory.mktemp("m") / "svc")


def test_svc_pipeline_round_trip_predicts_the_same_labels(clips, saved_svc):
    paths, _ = clips
    pipe, path = saved_svc
    back = load_model(path)
    assert type(back) is Pipeline
    assert back.predict(paths).tolist() == pipe.predict(paths).tolist()
    np.testing.assert_allclose(back.decision_function(paths), pipe.decision_function(paths))
    meta = json.loads((path / "model.json").read_text())
    assert meta["kind"] == "pipeline" and meta["classes"] == ["rock", "solo"]
    assert meta["steps"][0] == "bag_of_songs.FeatureExtractor"


def test_mlp_pipeline_round_trip(clips, tmp_path):
    paths, y = clips
    mlp = StudyMLPClassifier(max_epochs=3, validation_fraction=None, random_state=0)
    pipe = make_pipeline(FeatureExtractor(), StandardScaler(), mlp).fit(paths, y)
    back = load_model(save_model(pipe, tmp_path / "m"))
    assert back.predict(paths).tolist() == pipe.predict(paths).tolist()
    np.testing.assert_allclose(back.predict_proba(paths), pipe.predict_proba(paths), atol=1e-6)
    assert not list(tmp_path.glob("m/*.pt"))  # the network is plain arrays in the skops file
    assert hasattr(pipe[-1], "history_") and pipe[-1].module_ is not back[-1].module_


def test_segment_classifier_round_trip(clips, tmp_path):
    paths, y = clips
    seg = SegmentClassifier(FeatureExtractor(), make_pipeline(StandardScaler(),
                                                              LogisticRegression()),
                            segment=1.0).fit(paths, y)
    back = load_model(save_model(seg, tmp_path / "m"))
    np.testing.assert_allclose(back.predict_proba(paths), seg.predict_proba(paths))


def _cli(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main([str(a) for a in argv])
    return (status, *capsys.readouterr())


def test_the_command_line_predicts_with_a_saved_pipeline_of_paths(clips, tmp_path, capsys):
    """``bag-of-songs predict`` takes a saved pipeline as it takes a model folder: a line per
    file, ``--json``, a folder's table; one level (a pipeline records no hierarchy)."""
    paths, y = clips
    pipe = make_pipeline(FeatureExtractor(), StandardScaler(), LogisticRegression()).fit(paths, y)
    folder = save_model(pipe, tmp_path / "pipe")
    expected = pipe.predict(paths).tolist()
    status, out, _ = _cli(capsys, "predict", folder, paths[0], "--json", "--all-levels")
    record = json.loads(out)
    assert status == 0 and record["genre"] == expected[0] and record["levels"] == {
        "label": expected[0]}
    assert sum(record["probabilities"].values()) == pytest.approx(1.0)
    status, out, _ = _cli(capsys, "predict", folder, paths[-1], "--all-levels")
    assert status == 0 and out.startswith(f"{paths[-1]}: {expected[-1]} (")  # no empty " []"
    status, out, _ = _cli(capsys, "predict", folder, Path(paths[0]).parent)
    lines = out.strip().splitlines()
    assert status == 0 and lines[0] == "file\tlabel\tp(rock)\tp(solo)"
    assert [line.split("\t")[1] for line in lines[1:]] == [
        expected[paths.index(str(p))] for p in sorted(Path(paths[0]).parent.glob("*.wav"))]
    with pytest.raises(ModelError, match="one level"):
        predict_file(folder, paths[0], levels="sec_level_label")


def test_the_command_line_explains_a_pipeline_it_cannot_use(clips, saved_svc, demo_dir,
                                                            tmp_path, capsys):
    paths, y = clips
    _, svc_folder = saved_svc  # an SVC without probabilities
    status, out, err = _cli(capsys, "predict", svc_folder, paths[0])
    assert status == 2 and out == "" and "no predict_proba" in err and "Traceback" not in err
    rows = make_pipeline(StandardScaler(), LogisticRegression()).fit(
        np.random.default_rng(0).normal(size=(8, 3)), y)
    rows_folder = save_model(rows, tmp_path / "rows")
    status, out, err = _cli(capsys, "predict", rows_folder, paths[0])
    assert status == 2 and "takes feature rows, not audio files" in err
    status, out, err = _cli(capsys, "evaluate", rows_folder, demo_dir)
    assert status == 2 and "GenreClassifier.from_pipeline" in err and "Traceback" not in err


@pytest.mark.parametrize("make", [
    lambda: make_pipeline(FeatureExtractor(), PCA(2), SVC()),
    lambda: make_pipeline(FeatureExtractor(), StandardScaler(), KNeighborsClassifier(1)),
])
def test_a_step_outside_the_allow_list_is_refused_at_save(clips, make, tmp_path):
    paths, y = clips
    pipe = make().fit(paths, y)
    with pytest.raises(ModelError, match="may not hold"):
        save_model(pipe, tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_unfitted_or_foreign_objects_are_refused_at_save(tmp_path):
    with pytest.raises(ModelError, match="fit the Pipeline"):
        save_model(make_pipeline(StandardScaler(), SVC()), tmp_path / "a")
    with pytest.raises(ModelError, match="GenreClassifier or a fitted"):
        save_model(SVC(), tmp_path / "b")


def _forge(path: Path, est, tmp_path: Path) -> None:
    """Put ``est`` in as the skops file, named and checksummed as save_model would."""
    import hashlib

    import skops.io as sio

    f = tmp_path / "forged.skops"
    sio.dump(est, f)
    payload = f.read_bytes()
    meta = json.loads((path / "model.json").read_text())
    (path / meta["weights_file"]).unlink()
    digest = hashlib.sha256(payload).hexdigest()
    name = f"estimator-{digest[:16]}.skops"
    (path / name).write_bytes(payload)
    meta["weights_file"], meta["weights_sha256"] = name, digest
    (path / "model.json").write_text(json.dumps(meta))


def test_a_step_outside_the_allow_list_is_refused_at_load(clips, saved_svc, tmp_path):
    paths, y = clips
    pipe = make_pipeline(FeatureExtractor(), PCA(2), SVC()).fit(paths, y)
    path = Path(shutil.copytree(saved_svc[1], tmp_path / "m"))
    _forge(path, pipe, tmp_path)
    with pytest.raises(ModelError, match="PCA, which a saved pipeline may not hold"):
        load_model(path)


def _double(X):
    return 2 * X


def test_an_untrusted_type_is_refused_at_load(clips, saved_svc, tmp_path):
    from sklearn.preprocessing import FunctionTransformer

    paths, y = clips
    pipe = make_pipeline(FeatureExtractor(), FunctionTransformer(_double), SVC()).fit(paths, y)
    path = Path(shutil.copytree(saved_svc[1], tmp_path / "m"))
    _forge(path, pipe, tmp_path)
    with pytest.raises(ModelError, match="untrusted type"):
        load_model(path)


def test_crafted_arrays_and_settings_are_refused(clips, saved_svc, tmp_path):
    _, path0 = saved_svc
    cases = [(lambda p: setattr(p[1], "mean_", np.zeros(3)), "mean_"),
             (lambda p: p[2]._n_support.__setitem__(0, 10_000), "n_support_"),
             (lambda p: setattr(p[0], "hop_length", 1), "settings"),
             (lambda p: setattr(p[0], "n_mfcc", 20), "feature_names_out_|n_features_in_")]
    for i, (edit, field) in enumerate(cases):
        pipe = load_model(path0)
        pipe[2]._n_support = pipe[2]._n_support.copy()
        edit(pipe)
        path = Path(shutil.copytree(path0, tmp_path / str(i)))
        _forge(path, pipe, tmp_path)
        with pytest.raises(ModelError, match=field):
            load_model(path)


def test_crafted_mlp_weights_are_refused(clips, tmp_path):
    import skops.io as sio

    from bag_of_songs.models.pipeline_persistence import _storable

    paths, y = clips
    mlp = StudyMLPClassifier(hidden=(4,), max_epochs=2, validation_fraction=None,
                             random_state=0)
    pipe = make_pipeline(FeatureExtractor(), StandardScaler(), mlp).fit(paths, y)
    path = save_model(pipe, tmp_path / "m")
    for i, (key, value) in enumerate([("net.0.weight", np.zeros((4, 3), np.float32)),
                                      ("net.2.bias", np.full(1, np.inf, np.float32))]):
        stored = _storable(pipe)
        stored[-1].module_[key] = value
        f = tmp_path / f"{i}.skops"
        sio.dump(stored, f)
        forged = Path(shutil.copytree(path, tmp_path / f"f{i}"))
        meta = json.loads((forged / "model.json").read_text())
        shutil.copy(f, forged / meta["weights_file"])
        import hashlib

        digest = hashlib.sha256(f.read_bytes()).hexdigest()
        name = f"estimator-{digest[:16]}.skops"
        (forged / meta["weights_file"]).rename(forged / name)
        meta["weights_file"], meta["weights_sha256"] = name, digest
        (forged / "model.json").write_text(json.dumps(meta))
        with pytest.raises(ModelError, match="module_"):
            load_model(forged)


def test_a_tampered_file_is_refused(saved_svc, tmp_path):
    path = Path(shutil.copytree(saved_svc[1], tmp_path / "m"))
    meta = json.loads((path / "model.json").read_text())
    f = path / meta["weights_file"]
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="checksum"):
        load_model(path)


def test_model_json_must_agree_with_the_file(saved_svc, tmp_path):
    for i, (key, value, field) in enumerate([("classes", ["rock", "pop"], "classes differ"),
                                             ("classes", "rock", "classes"),
                                             ("format_version", 1, "format_version")]):
        path = Path(shutil.copytree(saved_svc[1], tmp_path / str(i)))
        meta = json.loads((path / "model.json").read_text())
        meta[key] = value
        (path / "model.json").write_text(json.dumps(meta))
        with pytest.raises(ModelError, match=field):
            load_model(path)
