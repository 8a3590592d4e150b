"""A saved model folder is data, never code: crafted skops files, edited ``model.json`` fields,
and model folders that hold other people's files.

The crafted file is the shape of a real attack on prefix-based trust lists: a dictionary whose
key type is a "method" ``eval`` of a "type" ``sklearn.svm._libsvm.__builtins__`` (a name that
starts with ``sklearn.svm.``). skops calls it on the key while it rebuilds the dictionary, so a
loader that trusts types by prefix runs the key as Python code. Every test checks that the
marker file the code would write does not appear.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from bag_of_songs.cli import main
from bag_of_songs.models import (
    TABULAR_KINDS,
    TRUSTED_SKOPS_TYPES,
    ModelError,
    TabularDataset,
    _calibrated_svc,
    fit_model,
    load_model,
    save_model,
)


def _table(rng, n=12, classes=("a", "b", "c")):
    import pandas as pd

    rows = []
    for k, c in enumerate(classes):
        for i in range(n):
            x = rng.normal(size=3)
            x[0] += 4 * k
            rows.append({"audio_file": f"{c}{i}.wav", "label": c, "f0": x[0], "f1": x[1],
                         "f2": x[2]})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """One saved model folder per kind (to copy and tamper with)."""
    rng = np.random.default_rng(3)
    ds = TabularDataset(_table(rng))
    val = ds.derive(_table(rng, n=4))
    root = tmp_path_factory.mktemp("models")
    out = {}
    for kind in TABULAR_KINDS:
        model = fit_model(kind, ds, val, seed=0, n_jobs=1)
        model.settings = {"sr": 22050, "n_fft": 2048, "hop_length": 512, "n_mfcc": 13,
                          "stats": ["mean"], "feature_set": "seed", "tuning": 0.0}
        out[kind] = save_model(model, root / kind)
    return out


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def _forge(path: Path, payload: bytes, ext: str) -> None:
    """Put ``payload`` in as the weights, named and checksummed as save_model would (a
    deliberate forgery: whoever hands over the folder writes both files)."""
    meta = json.loads((path / "model.json").read_text())
    (path / meta["weights_file"]).unlink()
    digest = hashlib.sha256(payload).hexdigest()
    name = f"{'weights' if ext == '.pt' else 'estimator'}-{digest[:16]}{ext}"
    (path / name).write_bytes(payload)
    meta["weights_file"], meta["weights_sha256"] = name, digest
    (path / "model.json").write_text(json.dumps(meta))


def _evil_skops(marker: Path) -> bytes:
    """A skops file whose loading runs ``code`` through a method node ``eval``."""
    import io

    code = f"__import__('pathlib').Path({str(marker)!r}).write_text('code ran')"
    fake_type = {"__class__": "__builtins__", "__module__": "sklearn.svm._libsvm"}
    method = {**fake_type, "__loader__": "MethodNode", "__id__": 2,
              "content": {"obj": {**fake_type, "__loader__": "TypeNode", "__id__": 3},
                          "func": "eval"}}
    schema = {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode",
              "__id__": 1, "protocol": 2, "_skops_version": "0.16.0",
              "content": {code: {"__class__": "int", "__module__": "builtins",
                                 "__loader__": "JsonNode", "content": "1", "is_json": True,
                                 "__id__": 4}},
              "key_types": {"__class__": "list", "__module__": "builtins",
                            "__loader__": "ListNode", "content": [method], "__id__": 5}}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("schema.json", json.dumps(schema))
    return buf.getvalue()


def test_the_crafted_file_does_run_code_under_prefix_trust(tmp_path):
    """The attack is real: skops runs it when its types are trusted (so the tests below that it
    is refused mean something)."""
    import skops.io as sio

    marker = tmp_path / "PWNED"
    f = tmp_path / "evil.skops"
    f.write_bytes(_evil_skops(marker))
    untrusted = sio.get_untrusted_types(file=f)
    assert all(t.startswith("sklearn.svm.") for t in untrusted)  # passes a prefix check
    sio.load(f, trusted=untrusted)
    assert marker.exists()


@pytest.mark.parametrize("kind", ["svc", "rf"])
def test_crafted_skops_file_runs_no_code(saved, kind, tmp_path):
    marker = tmp_path / "PWNED"
    path = _copy(saved[kind], tmp_path / "m")
    _forge(path, _evil_skops(marker), ".skops")
    with pytest.raises(ModelError, match=r"untrusted type.*__builtins__"):
        load_model(path)
    assert not marker.exists()


def test_crafted_skops_file_through_the_cli(saved, tmp_path, capsys):
    marker = tmp_path / "PWNED"
    path = _copy(saved["svc"], tmp_path / "m")
    _forge(path, _evil_skops(marker), ".skops")
    clip = tmp_path / "x.wav"
    import soundfile as sf

    sf.write(clip, np.zeros(22050, dtype=np.float32), 22050)
    assert main(["predict", str(path), str(clip)]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "untrusted" in err and "Traceback" not in err
    assert not marker.exists()


def test_trusted_types_are_exactly_those_of_our_saved_models(tmp_path):
    """Pin the allow-list: it equals what skops reports for every model kind we save."""
    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4)).astype(np.float32)
    y = np.repeat(np.arange(4), 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimators = [
            _calibrated_svc(C=1.0, gamma="scale", seed=0, y=y).fit(X, y),  # Platt-calibrated
            _calibrated_svc(C=1.0, gamma="scale", seed=0, y=y[8:12]).fit(X[8:12], y[8:12]),
            RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y),
        ]
    assert type(estimators[1]).__name__ == "_SoftmaxSVC"  # tiny classes: the fallback
    found = set()
    for i, est in enumerate(estimators):
        f = tmp_path / f"{i}.skops"
        sio.dump(est, f)
        found |= set(sio.get_untrusted_types(file=f))
    assert found == TRUSTED_SKOPS_TYPES


def test_a_trusted_type_that_is_not_our_model_is_refused(saved, tmp_path):
    """A file made only of skops' safe default types, but not a model of ours."""
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    est = LogisticRegression().fit(np.random.default_rng(0).normal(size=(12, 3)),
                                   np.repeat([0, 1, 2], 4))
    f = tmp_path / "lr.skops"
    sio.dump(est, f)
    path = _copy(saved["svc"], tmp_path / "m")
    _forge(path, f.read_bytes(), ".skops")
    with pytest.raises(ModelError, match="LogisticRegression.*not a svc model"):
        load_model(path)


def _edit(path: Path, edit) -> None:
    meta = json.loads((path / "model.json").read_text())
    edit(meta)
    (path / "model.json").write_text(json.dumps(meta))


def _set(*keys_and_value):
    *keys, value = keys_and_value

    def edit(meta):
        d = meta
        for k in keys[:-1]:
            d = d[k]
        d[keys[-1]] = value
    return edit


BAD_FIELDS = [
    (_set("classes", ["a", "a", "b"]), "classes"),
    (_set("classes", ["a"]), "classes"),
    (_set("classes", "abc"), "classes"),
    (_set("classes", ["a", "b", "c", "d"]), "n_outputs|n_classes"),
    (_set("scaler", "scale", [0.0, 1.0, 1.0]), "scaler.scale"),
    (_set("scaler", "mean", [1.0, 2.0]), "scaler.mean"),
    (_set("scaler", "var", [1.0, -1.0, 1.0]), "scaler.var"),
    (_set("feature_columns", ["f0", "f1"]), "scaler.mean"),
    (_set("settings", []), "settings"),
    (_set("settings", "hop_length", 0), "settings.hop_length"),
    (_set("settings", "sr", 0), "settings.sr"),
    (_set("settings", "n_mfcc", 500), "settings.n_mfcc"),
    (_set("settings", "stats", ["mean", "mode"]), "settings.stats"),
    (_set("settings", "feature_set", "everything"), "settings.feature_set"),
    (_set("settings", "segment", -3), "settings.segment"),
    (_set("settings", "evil", 1), "settings"),
    (_set("label_column", ""), "label_column"),
    (_set("kind", "pickle"), "kind"),
    (_set("format_version", 99), "format_version"),
    (_set("info", [1, 2]), "info"),
    (_set("weights_file", "../../etc/passwd"), "weights_file"),
    (_set("weights_sha256", "0" * 64), "weights_sha256"),
]


@pytest.mark.parametrize("kind", TABULAR_KINDS)
@pytest.mark.parametrize("edit,field", BAD_FIELDS)
def test_invalid_model_json_names_the_field(saved, kind, edit, field, tmp_path):
    path = _copy(saved[kind], tmp_path / "m")
    _edit(path, edit)
    with pytest.raises(ModelError, match=field):
        load_model(path)


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_in_model_json_are_refused(saved, text, tmp_path):
    for field in ("scale", "mean"):
        path = _copy(saved["mlp"], tmp_path / f"m-{field}")
        raw = json.loads((path / "model.json").read_text())
        raw["scaler"][field][0] = "@@"
        (path / "model.json").write_text(json.dumps(raw).replace('"@@"', text))
        with pytest.raises(ModelError, match=f"unreadable|scaler.{field}"):
            load_model(path)
    path = _copy(saved["mlp"], tmp_path / "m-tuning")
    raw = json.loads((path / "model.json").read_text())
    raw["settings"]["tuning"] = "@@"
    (path / "model.json").write_text(json.dumps(raw).replace('"@@"', text))
    with pytest.raises(ModelError, match="unreadable|settings.tuning"):
        load_model(path)


def test_estimator_classes_must_index_model_json_classes(saved, tmp_path):
    """A forest fitted on class indices 0..4 cannot stand behind three class names."""
    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(0)
    est = RandomForestClassifier(n_estimators=2, random_state=0).fit(
        rng.normal(size=(20, 3)), np.repeat(np.arange(5), 4))
    f = tmp_path / "rf.skops"
    sio.dump(est, f)
    path = _copy(saved["rf"], tmp_path / "m")
    _forge(path, f.read_bytes(), ".skops")
    with pytest.raises(ModelError, match="classes"):
        load_model(path)


def test_non_finite_mlp_weights_are_refused(saved, tmp_path):
    import io

    import torch

    path = _copy(saved["mlp"], tmp_path / "m")
    meta = json.loads((path / "model.json").read_text())
    state = torch.load(path / meta["weights_file"], weights_only=True)
    state["net.0.weight"][0, 0] = float("nan")
    buf = io.BytesIO()
    torch.save(state, buf)
    _forge(path, buf.getvalue(), ".pt")
    with pytest.raises(ModelError, match="non-finite"):
        load_model(path)


def test_evaluate_json_with_bad_model_json_is_a_clear_error(saved, tmp_path, capsys):
    path = _copy(saved["mlp"], tmp_path / "m")
    _edit(path, _set("scaler", "scale", [0.0, 1.0, 1.0]))
    assert main(["evaluate", str(path), str(tmp_path), "--json"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and "error:" in out.err and "scaler.scale" in out.err


# ---------------------------------------------------------------------------------------------
# Saving never deletes what it did not write


def test_save_keeps_files_that_are_not_its_own(saved, tmp_path):
    model = load_model(saved["mlp"])
    path = _copy(saved["mlp"], tmp_path / "m")
    mine = path / "weights_resnet50_best.pt"
    mine.write_bytes(b"a user's own weights")
    notes = path / "estimator_notes.skops"
    notes.write_bytes(b"not ours either")
    before = json.loads((path / "model.json").read_text())["weights_file"]
    model.info = {**model.info, "retrained": True}
    save_model(model, path)
    assert mine.read_bytes() == b"a user's own weights"
    assert notes.read_bytes() == b"not ours either"
    now = json.loads((path / "model.json").read_text())["weights_file"]
    assert (path / now).exists()
    assert before == now or not (path / before).exists()  # the replaced weights are gone
    assert load_model(path).info["retrained"] is True


def test_save_refuses_a_folder_that_is_not_a_model(saved, tmp_path):
    model = load_model(saved["svc"])
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"jpeg")
    with pytest.raises(ModelError, match="not empty and is not a saved model"):
        save_model(model, folder)
    assert sorted(p.name for p in folder.iterdir()) == ["holiday.jpg"]
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    with pytest.raises(ModelError, match="not a folder"):
        save_model(model, afile)
    other = tmp_path / "other"
    other.mkdir()
    (other / "model.json").write_text('{"name": "someone else\'s model"}')
    with pytest.raises(ModelError, match="not a model.json written by bag-of-songs"):
        save_model(model, other)


def test_save_cleans_what_a_killed_save_left(saved, tmp_path):
    model = load_model(saved["rf"])
    path = _copy(saved["rf"], tmp_path / "m")
    debris = [path / ".estimator.staged.skops", path / ".estimator.staged.skops.ab12cd.tmp",
              path / ".model.json.x9y8.tmp"]
    for p in debris:
        p.write_bytes(b"half written")
    # weights a killed save had moved into place (named by their own checksum) but never named
    orphan_bytes = b"orphan weights"
    digest = hashlib.sha256(orphan_bytes).hexdigest()
    orphan = path / f"estimator-{digest[:16]}.skops"
    orphan.write_bytes(orphan_bytes)
    save_model(model, path)
    assert not any(p.exists() for p in [*debris, orphan])
    assert load_model(path).kind == "rf"


def test_train_out_is_a_non_model_folder(tmp_path, capsys, demo_dir):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "weights_resnet50_best.pt").write_bytes(b"keep me")
    code = main(["train", str(demo_dir), "--model", "svc", "--label-column",
                 "fst_level_label", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "not empty and is not a saved model" in err
    assert (out / "weights_resnet50_best.pt").read_bytes() == b"keep me"
    assert os.listdir(out) == ["weights_resnet50_best.pt"]
