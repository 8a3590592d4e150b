"""A saved model folder is data, never code: crafted skops files, edited ``model.json`` fields,
and model folders that hold other people's files.

The crafted file is the shape of a real attack on prefix-based trust lists: a dictionary whose
key type is a "method" ``eval`` of a "type" ``sklearn.svm._libsvm.__builtins__`` (a name that
starts with ``sklearn.svm.``). skops calls it on the key while it rebuilds the dictionary, so a
loader that trusts types by prefix runs the key as Python code. Every test checks that the
marker file the code would write does not appear.
"""

from __future__ import annotations

import contextlib
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


# ---------------------------------------------------------------------------------------------
# Crafted forests: node arrays that scikit-learn would follow without bounds checks


def _tree_nodes(z: zipfile.ZipFile) -> list[str]:
    """The npy members holding the node arrays of the trees of a skops file, in order."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("__class__") == "Tree" and node.get("__module__") == "sklearn.tree._tree":
                found.append(node["content"]["content"]["nodes"]["file"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(json.loads(z.read("schema.json")))
    return found


def _craft_tree(path: Path, edit) -> None:
    """Rewrite the first tree's node array of a saved forest with ``edit(nodes)``, re-hashed."""
    import io

    meta = json.loads((path / "model.json").read_text())
    src = zipfile.ZipFile(path / meta["weights_file"])
    target = _tree_nodes(src)[0]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == target:
                nodes = np.load(io.BytesIO(data)).copy()
                edit(nodes)
                buf = io.BytesIO()
                np.save(buf, nodes, allow_pickle=False)
                data = buf.getvalue()
            z.writestr(info.filename, data)
    src.close()
    _forge(path, out.getvalue(), ".skops")


def _set_node(field_name, value, node=0):
    def edit(nodes):
        assert nodes["left_child"][node] != -1  # an internal node
        nodes[field_name][node] = value
    return edit


def _root_loops(nodes):
    nodes["left_child"][0] = nodes["right_child"][0] = 0


CRAFTED_TREES = {
    "child index 2**40": (_set_node("left_child", 2**40), "children_left/right"),
    "feature 2**40": (_set_node("feature", 2**40), "feature"),
    "root its own child": (_root_loops, "children_left/right"),
    "negative feature": (_set_node("feature", -5), "feature"),
    "one child": (_set_node("right_child", -1), "one child"),
    "NaN threshold": (_set_node("threshold", np.nan), "threshold"),
}


@pytest.mark.parametrize("case", list(CRAFTED_TREES))
def test_crafted_tree_is_refused_on_load(saved, case, tmp_path):
    edit, field = CRAFTED_TREES[case]
    path = _copy(saved["rf"], tmp_path / "m")
    _craft_tree(path, edit)
    with pytest.raises(ModelError, match=rf"estimators_\[\d+\]\.{field}|{field}"):
        load_model(path)


@pytest.mark.parametrize("case", ["child index 2**40", "feature 2**40", "root its own child"])
def test_crafted_tree_never_reaches_predict(saved, case, tmp_path):
    """Load and predict in a child process (before the fix: a segfault, or a loop that Ctrl-C
    cannot stop), so that a regression cannot crash or hang the test run."""
    import subprocess
    import sys

    path = _copy(saved["rf"], tmp_path / "m")
    _craft_tree(path, CRAFTED_TREES[case][0])
    code = ("import sys, numpy as np\n"
            "from bag_of_songs.models import ModelError, load_model\n"
            "try:\n"
            f"    model = load_model({str(path)!r})\n"
            "except ModelError as exc:\n"
            "    print(exc, file=sys.stderr)\n"
            "    sys.exit(2)\n"
            "X = np.repeat([[-3e38], [3e38]], 3, axis=1).astype(np.float32)\n"
            "model.predict_proba(X)\n")
    try:
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("predicting with a crafted forest did not end")
    assert run.returncode == 2, (run.returncode, run.stderr[-500:])
    assert CRAFTED_TREES[case][1] in run.stderr


def _schema_edit(path: Path, edit) -> None:
    """Edit the schema.json of a saved forest's skops file (``edit(schema)``), re-hashed."""
    import io

    meta = json.loads((path / "model.json").read_text())
    src = zipfile.ZipFile(path / meta["weights_file"])
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "schema.json":
                schema = json.loads(data)
                edit(schema)
                data = json.dumps(schema).encode()
            z.writestr(info.filename, data)
    src.close()
    _forge(path, out.getvalue(), ".skops")


def _first_tree_state(schema):
    todo = [schema]
    while todo:
        node = todo.pop(0)
        if isinstance(node, dict):
            if node.get("__class__") == "Tree":
                return node["content"]["content"]
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    raise AssertionError("no tree")


@pytest.mark.parametrize("key,value,field", [
    ("node_count", "5", "node_count"),  # more than the nodes held: sklearn truncates it
    ("max_depth", "999", "max_depth"),
])
def test_tree_counts_that_disagree_with_the_arrays_are_refused(saved, key, value, field,
                                                                tmp_path):
    path = _copy(saved["rf"], tmp_path / "m")
    # A new __id__ too: skops reuses an object already loaded under the same id.
    _schema_edit(path, lambda s: _first_tree_state(s)[key].update(content=value, __id__=7))
    with pytest.raises(ModelError, match=field):
        load_model(path)


def test_a_tree_inside_an_svc_file_is_refused(saved, tmp_path):
    """Trees are trusted in a forest's file only."""
    path = _copy(saved["svc"], tmp_path / "m")
    meta = json.loads((saved["rf"] / "model.json").read_text())
    _forge(path, (saved["rf"] / meta["weights_file"]).read_bytes(), ".skops")
    with pytest.raises(ModelError, match="untrusted type.*Tree"):
        load_model(path)


def test_crafted_svc_arrays_are_refused(saved, tmp_path):
    """libsvm trusts n_support and the support vectors' shapes: a mismatch is refused."""
    import io

    import skops.io as sio

    model = load_model(saved["svc"])
    est = model.estimator
    svc = est.svc if hasattr(est, "svc") else est.calibrated_classifiers_[0].estimator
    svc._n_support = svc._n_support.copy()
    svc._n_support[0] += 1000
    buf = io.BytesIO()
    f = tmp_path / "svc.skops"
    sio.dump(est, f)
    buf.write(f.read_bytes())
    path = _copy(saved["svc"], tmp_path / "m")
    _forge(path, buf.getvalue(), ".skops")
    with pytest.raises(ModelError, match="n_support_"):
        load_model(path)


def test_genuine_models_pass_the_checks(saved):
    for kind in TABULAR_KINDS:
        model = load_model(saved[kind])
        assert model.predict(np.zeros((2, 3), dtype=np.float32)).shape == (2,)


# ---------------------------------------------------------------------------------------------
# A skops zip bomb is refused before anything is inflated


def _with_member(path: Path, name: str, data: bytes, compression=zipfile.ZIP_DEFLATED) -> None:
    import io

    meta = json.loads((path / "model.json").read_text())
    src = (path / meta["weights_file"]).read_bytes()
    out = io.BytesIO(src)
    with zipfile.ZipFile(out, "a") as z:
        z.writestr(name, data, compress_type=compression)
    _forge(path, out.getvalue(), ".skops")


def test_skops_zip_bomb_is_refused_without_inflating_it(saved, tmp_path):
    import time
    import tracemalloc

    path = _copy(saved["rf"], tmp_path / "m")
    _with_member(path, "140000000000000.npy", bytes(64 << 20))  # 64 MiB of zeros: ~64 KB
    meta = json.loads((path / "model.json").read_text())
    with zipfile.ZipFile(path / meta["weights_file"]) as z:
        assert z.getinfo("140000000000000.npy").compress_size < 1 << 20
    tracemalloc.start()
    t0 = time.monotonic()
    try:
        with pytest.raises(ModelError, match="zip bomb"):
            load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - t0 < 10
    assert peak < 16 << 20


@pytest.mark.parametrize("limit,value,what", [
    ("_SKOPS_MAX_BYTES", 1000, "declares"),
    ("_SKOPS_MAX_MEMBERS", 3, "members"),
    ("_SKOPS_MAX_SCHEMA_BYTES", 100, "schema.json"),
])
def test_skops_archive_limits(saved, monkeypatch, limit, value, what):
    from bag_of_songs.models import safety

    load_model(saved["rf"])  # within the real limits
    monkeypatch.setattr(safety, limit, value)
    with pytest.raises(ModelError, match=what):
        load_model(saved["rf"])


# ---------------------------------------------------------------------------------------------
# model.json cannot ask for unbounded memory


@pytest.mark.parametrize("settings,field", [
    ({"sr": 384000, "hop_length": 1}, "settings.hop_length"),
    ({"n_fft": 1 << 16, "hop_length": 32}, "settings.n_fft"),
    ({"hop_length": 64, "segment": 15.0, "segment_hop": 0.003}, "settings.segment_hop"),
])
def test_costly_feature_settings_are_refused(saved, settings, field, tmp_path):
    import time

    path = _copy(saved["mlp"], tmp_path / "m")
    _edit(path, lambda meta: meta["settings"].update(settings))
    t0 = time.monotonic()
    with pytest.raises(ModelError, match=field):
        load_model(path)
    assert time.monotonic() - t0 < 10


@pytest.mark.parametrize("settings", [
    {}, {"sr": 22050, "n_fft": 2048, "hop_length": 512}, {"sr": 16000}, {"sr": 44100},
    {"segment": 3.0}, {"segment": 3.0, "segment_hop": 1.5}, {"segment": 1.0},
    {"n_fft": 512, "hop_length": 128}, {"n_fft": 64, "hop_length": 16, "sr": 8000},
    {"sr": 48000, "n_fft": 4096, "hop_length": 256, "n_mfcc": 40},
])
def test_real_feature_settings_pass(settings):
    from bag_of_songs.models import _validate_settings

    _validate_settings(settings)


@pytest.fixture(scope="module")
def saved_cnn(tmp_path_factory):
    """A tiny saved cnn model (4 channels, 16 mel bands, 1 s clips)."""
    import torch

    from bag_of_songs import cnn
    from bag_of_songs.models import GenreClassifier

    torch.manual_seed(0)
    module = cnn.SpectrogramCNN(16, 2, channels=[4], blocks=["conv"]).eval()
    spec = cnn.spectrogram_settings(n_mels=16, duration=1.0)
    info = {"normalizer": {"kind": "global", "mean": -40.0, "std": 20.0},
            "crop_frames": 16, "crop_hop": 16}
    model = GenreClassifier("cnn", module, ["a", "b"], [], "label", None,
                            cnn=cnn.model_config(module, info, spec))
    return save_model(model, tmp_path_factory.mktemp("cnn") / "cnn")


@contextlib.contextmanager
def _memory_cap(extra: int = 2 << 30):
    """Cap this process's address space at its current size + ``extra`` for a block (Linux),
    so that a regression that allocates without bound fails the test, not the machine."""
    try:
        import resource

        with open("/proc/self/statm") as fh:
            now = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        before = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError):
        yield
        return
    cap = now + extra if before[1] == resource.RLIM_INFINITY else min(now + extra, before[1])
    resource.setrlimit(resource.RLIMIT_AS, (cap, before[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, before)


def _arch_edit(**changes):
    def edit(meta):
        meta["architecture"].update(changes)
        meta["cnn"]["architecture"].update(changes)
    return edit


def test_the_tiny_cnn_loads(saved_cnn):
    assert load_model(saved_cnn).kind == "cnn"


@pytest.mark.parametrize("edit,field", [
    (_arch_edit(channels=[1, 60000, 60000], blocks=["conv"] * 3), "architecture.channels"),
    (_arch_edit(channels=[10000]), "architecture.channels.*activations"),
    (_arch_edit(channels=[5]), "architecture.*implies"),
    (_arch_edit(channels=[4, 4], blocks=["conv", "res"]), "architecture.*implies"),
    (_set("cnn", "spectrogram", "n_fft", 1 << 22), "spectrogram.n_fft"),
    (lambda meta: meta["cnn"]["spectrogram"].update(sr=384000, hop_length=1),
     "spectrogram.hop_length"),
    (_set("cnn", "spectrogram", "duration", 1e9), "spectrogram.duration"),
    (_set("cnn", "crop_hop", 1), None),  # 29 crops of a 1 s clip: fine
])
def test_costly_cnn_model_json_is_refused_before_allocating(saved_cnn, edit, field, tmp_path):
    import time
    import tracemalloc

    path = _copy(saved_cnn, tmp_path / "m")
    _edit(path, edit)
    if field is None:
        load_model(path)
        return
    tracemalloc.start()
    t0 = time.monotonic()
    try:
        with _memory_cap(), pytest.raises(ModelError, match=field):
            load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - t0 < 10 and peak < 64 << 20


def test_mlp_weights_must_match_the_architecture(saved, tmp_path):
    """Weights of another network (one more input) are refused from the file's directory."""
    import io

    import torch

    from bag_of_songs.models import MLP

    buf = io.BytesIO()
    torch.save(MLP(4, 3).state_dict(), buf)
    path = _copy(saved["mlp"], tmp_path / "m")
    _forge(path, buf.getvalue(), ".pt")
    with pytest.raises(ModelError, match="implies"):
        load_model(path)


def test_architecture_size_is_the_modules(tmp_path):
    from bag_of_songs import cnn

    for module in (cnn.SpectrogramCNN(), cnn.HybridNet(),
                   cnn.SpectrogramCNN(16, 3, channels=[8, 16], blocks=["conv", "res"]),
                   cnn.HybridNet(16, 2, 7, hidden=12, channels=[8, 8, 16],
                                 blocks=["res", "res", "conv"])):
        size = cnn.architecture_size(cnn.architecture(module))
        state = module.state_dict()
        assert size["parameters"] == cnn.count_parameters(module)
        assert size["tensors"] == len(state)
        assert size["state_bytes"] == sum(t.numel() * t.element_size() for t in state.values())
        path = tmp_path / "w.pt"
        import torch

        torch.save(state, path)
        with zipfile.ZipFile(path) as z:
            stored = sum(i.file_size for i in z.infolist() if "/data/" in i.filename
                         and i.filename.rsplit("/", 1)[-1].isdigit())
        assert stored == size["state_bytes"]


# ---------------------------------------------------------------------------------------------
# The spectrogram cache is built under the folder lock


def test_log_mel_cache_refuses_while_another_run_holds_the_folder(tmp_path):
    import subprocess
    import sys

    import pandas as pd
    import soundfile as sf

    from bag_of_songs import cnn
    from bag_of_songs.files import FolderLockedError

    audios = tmp_path / "train" / "audios"
    audios.mkdir(parents=True)
    rows = []
    for i in range(2):
        rel = f"train/audios/audio_train_{i}.wav"
        sf.write(tmp_path / rel, np.random.default_rng(i).normal(0, 0.1, 22050)
                 .astype(np.float32), 22050)
        rows.append({"audio_file": rel, "label": "ab"[i]})
    pd.DataFrame(rows).to_csv(tmp_path / "train" / "annotations.csv", index=False)
    settings = cnn.spectrogram_settings(n_mels=16, duration=1.0)
    code = ("import time\nfrom bag_of_songs.files import lock_folder\n"
            f"with lock_folder({str(tmp_path)!r}, what='features'):\n"
            "    print('locked', flush=True)\n    time.sleep(120)\n")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(FolderLockedError, match="in use by another run"):
            cnn.log_mel_cache(tmp_path / "train", settings, log=lambda m: None)
        assert not (tmp_path / "train" / "cache").exists() or not any(
            (tmp_path / "train" / "cache").iterdir())
    finally:
        holder.kill()
        holder.wait()
    specs, files, skipped = cnn.log_mel_cache(tmp_path / "train", settings, log=lambda m: None)
    assert len(files) == 2 and not skipped
    # A built cache is read while another run holds the folder (reading writes nothing).
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        again, _, _ = cnn.log_mel_cache(tmp_path / "train", settings, log=lambda m: None)
        assert np.array_equal(np.asarray(again), np.asarray(specs))
    finally:
        holder.kill()
        holder.wait()
