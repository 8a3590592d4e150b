"""Tests of the sources of ``prepare`` added for real corpora (issue 10): CCMusic that loads by
default (the known-good revisions tried in order, offline, with local datasets of its schema),
CCMusic's extracted ``audio.zip``, nested genre folders with several label levels, and the
label hierarchy that lets a fine model report coarse levels.

Nothing here reaches the network: the hub is switched off and ``datasets.load_dataset`` is
replaced by a function that serves local datasets (or failures) per revision.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before datasets is imported, if it is not yet
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import soundfile as sf  # noqa: E402

from bag_of_songs.data import (  # noqa: E402
    CCMUSIC_CLASSES,
    CCMUSIC_HIERARCHY,
    CCMUSIC_REVISIONS,
    LEVELS,
    SAMPLE_RATE,
    DataSourceError,
    label_hierarchy,
    level_names,
    list_folder_items,
    list_splits,
    load_ccmusic,
    prepare,
    read_annotations,
    read_skipped,
    strip_number_prefix,
)

SR = SAMPLE_RATE
QUIET = {"progress": False, "log": lambda msg: None}


def tone(freq: float, seconds: float = 0.2, sr: int = 16000) -> np.ndarray:
    t = np.arange(int(round(sr * seconds))) / sr
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(y: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.fft.rfftfreq(len(y), 1.0 / sr)[np.argmax(spec)])


@pytest.fixture
def datasets(monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    return datasets


# ---------------------------------------------------------------------------------------------
# CCMusic: the known-good revisions, in order


def ccmusic_dict(datasets, freqs=(220, 440, 660)):
    """A tiny DatasetDict of CCMusic's raw-audio schema (train / validation / test)."""
    feats = datasets.Features({
        "audio": datasets.Audio(sampling_rate=22050),
        "mel": datasets.Image(),
        **{lv: datasets.ClassLabel(names=CCMUSIC_CLASSES[lv]) for lv in LEVELS}})
    rows = [("Classic", "Symphony", "Symphony"), ("Non_classic", "Rock", "Soft_rock"),
            ("Non_classic", "Pop", "Teen_pop")]
    from PIL import Image

    img = Image.fromarray(np.zeros((4, 4), dtype=np.uint8))

    def split(k):
        f, s, t = rows[k]
        return datasets.Dataset.from_dict({
            "audio": [{"array": tone(freqs[k], 0.2, 22050), "sampling_rate": 22050}],
            "mel": [img], "fst_level_label": [f], "sec_level_label": [s],
            "thr_level_label": [t]}, features=feats)

    return datasets.DatasetDict({"train": split(0), "validation": split(1), "test": split(2)})


def eval_dict(datasets):
    """The hub's ``main`` today: spectrogram images, no audio."""
    from PIL import Image

    img = Image.fromarray(np.zeros((4, 4), dtype=np.uint8))
    ds = datasets.Dataset.from_dict({"mel": [img], **{lv: [0] for lv in LEVELS}},
                                    features=datasets.Features({
                                        "mel": datasets.Image(),
                                        **{lv: datasets.ClassLabel(names=CCMUSIC_CLASSES[lv])
                                           for lv in LEVELS}}))
    return datasets.DatasetDict({"train": ds})


class FakeHub:
    """``datasets.load_dataset`` serving one outcome per revision, and recording the calls."""

    def __init__(self, outcomes: dict):
        self.outcomes, self.calls = outcomes, []

    def __call__(self, path, **kwargs):
        self.calls.append((path, kwargs))
        outcome = self.outcomes.get(kwargs.get("revision"),
                                    FileNotFoundError("Revision not found on the hub"))
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def test_the_known_good_revisions_are_tried_in_order_and_the_one_that_loads_is_named(
        datasets, monkeypatch, tmp_path):
    assert CCMUSIC_REVISIONS[:2] == ("7dc547f34dfc3bfb568c02c26d52c8a7ed998d47",
                                     "a78bf7981b8530f31c1d1af985c5b81c8923c5b9")
    hub = FakeHub({CCMUSIC_REVISIONS[0]: ConnectionError("the archive is gone from ModelScope"),
                   CCMUSIC_REVISIONS[1]: ccmusic_dict(datasets)})
    monkeypatch.setattr(datasets, "load_dataset", hub)
    logged = []
    out = tmp_path / "out"
    report = prepare("ccmusic", out, n_jobs=1, progress=False, log=logged.append)
    assert [kw["revision"] for _, kw in hub.calls] == list(CCMUSIC_REVISIONS[:2])
    for path, kw in hub.calls:
        assert path == "ccmusic-database/music_genre"
        assert kw["name"] == "default" and kw["trust_remote_code"] is True
    assert f"ccmusic: loaded revision {CCMUSIC_REVISIONS[1]}" in logged
    assert report.written == {"train": 1, "validation": 1, "test": 1}
    record = json.loads((out / "prepare.json").read_text())
    assert record["splits"]["train"]["revision"] == CCMUSIC_REVISIONS[1]
    ann = read_annotations(out / "test")
    assert list(ann[list(LEVELS)].iloc[0]) == ["Non_classic", "Pop", "Teen_pop"]
    y, _ = sf.read(out / ann["audio_file"].iloc[0], dtype="float32")
    assert abs(peak_hz(y[: SR // 5], SR) - 660) < 10


def test_when_every_revision_fails_each_reason_and_the_ways_out_are_given(datasets,
                                                                          monkeypatch, tmp_path,
                                                                          capsys):
    from bag_of_songs.cli import main

    no_levels = ccmusic_dict(datasets).remove_columns("thr_level_label")
    hub = FakeHub({CCMUSIC_REVISIONS[0]: ConnectionError("no network"),
                   CCMUSIC_REVISIONS[1]: eval_dict(datasets),
                   CCMUSIC_REVISIONS[2]: no_levels})  # the fourth: revision not found
    monkeypatch.setattr(datasets, "load_dataset", hub)
    with pytest.raises(DataSourceError) as err:
        load_ccmusic()
    msg = str(err.value)
    assert f"any of the {len(CCMUSIC_REVISIONS)} known revisions" in msg
    lines = msg.splitlines()
    for rev, reason in zip(CCMUSIC_REVISIONS, ["no network", "no audio column",
                                               "lacks the label column(s) ['thr_level_label']",
                                               "Revision not found"], strict=True):
        (line,) = [ln for ln in lines if rev in ln]
        assert reason in line
    for way in ("--revision", "ModelScope", "--dataset-path", "audio.zip", "genre subfolders"):
        assert way in msg
    assert [kw["revision"] for _, kw in hub.calls] == list(CCMUSIC_REVISIONS)

    out = tmp_path / "out"
    assert main(["prepare", "ccmusic", "--out", str(out), "--quiet"]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert len([ln for ln in captured.err.splitlines() if ln.startswith("error:")]) == 1
    assert all(rev in captured.err for rev in CCMUSIC_REVISIONS)
    assert not out.exists()


def test_a_given_revision_is_the_only_one_tried(datasets, monkeypatch):
    hub = FakeHub({"abc123": ccmusic_dict(datasets)})
    monkeypatch.setattr(datasets, "load_dataset", hub)
    assert set(load_ccmusic(revision="abc123")) == {"train", "validation", "test"}
    assert [kw["revision"] for _, kw in hub.calls] == ["abc123"]
    with pytest.raises(DataSourceError, match="revision 'nope'.*Revision not found"):
        load_ccmusic(revision="nope")
    assert len(hub.calls) == 2


# ---------------------------------------------------------------------------------------------
# CCMusic's audio.zip, extracted


def write_tree(root: Path, files: dict[str, float]) -> Path:
    """One 0.2 s tone per relative path (the value is its frequency)."""
    for rel, f in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        sf.write(p, tone(f), 16000)
    return root


AUDIO_ZIP = {  # numbered folders as in the archive; Classic stops at the second level
    "audio/1_Classic/3_Symphony/001.wav": 200,
    "audio/1_Classic/3_Symphony/002.wav": 210,
    "audio/1_Classic/5_Opera/003.wav": 300,
    "audio/2_Non_classic/7_Pop/9_Teen_pop/004.wav": 400,
    "audio/2_Non_classic/7_Pop/11_Adult_contemporary/005.wav": 500,
    "audio/2_Non_classic/12_Soul_or_r_and_b/006.wav": 600,
    "audio/2_Non_classic/15_Rock/18_Soft_rock/007.wav": 700,
}


def test_ccmusic_from_its_extracted_audio_zip(tmp_path, datasets, monkeypatch):
    hub = FakeHub({})
    monkeypatch.setattr(datasets, "load_dataset", hub)  # must not be used
    root = write_tree(tmp_path / "extracted", AUDIO_ZIP)
    out = tmp_path / "out"
    report = prepare("ccmusic", out, dataset_path=root, split="all", n_jobs=1, **QUIET)
    assert report.written == {"all": 7}
    ann = read_annotations(out / "all")
    assert list(ann.columns) == ["audio_file", *LEVELS, "source", "source_stamp"]
    got = {Path(s).name: tuple(r) for s, r in zip(ann["source"], ann[list(LEVELS)].to_numpy(),
                                                   strict=True)}
    assert got == {
        "001.wav": ("Classic", "Symphony", "Symphony"),
        "002.wav": ("Classic", "Symphony", "Symphony"),
        "003.wav": ("Classic", "Opera", "Opera"),
        "004.wav": ("Non_classic", "Pop", "Teen_pop"),
        "005.wav": ("Non_classic", "Pop", "Adult_contemporary"),
        "006.wav": ("Non_classic", "Soul_or_RnB", "Soul_or_RnB"),  # old spelling, 2 levels
        "007.wav": ("Non_classic", "Rock", "Soft_rock"),
    }
    for fst, sec, thr in got.values():  # exactly CCMusic's hierarchy
        assert CCMUSIC_HIERARCHY[sec][0] == fst and thr in CCMUSIC_HIERARCHY[sec][1]
    assert list(ann["source"])[0] == "1_Classic/3_Symphony/001.wav"  # below the top folder

    with pytest.raises(DataSourceError, match="extract the archive first"):
        (tmp_path / "audio.zip").write_bytes(b"PK")
        prepare("ccmusic", tmp_path / "o2", dataset_path=tmp_path / "audio.zip", **QUIET)
    with pytest.raises(DataSourceError, match="no such folder"):
        prepare("ccmusic", tmp_path / "o2", dataset_path=tmp_path / "nope", **QUIET)
    assert hub.calls == []
    other = write_tree(tmp_path / "other", {"jazz/bebop/x.wav": 300, "rock/y.wav": 400})
    with pytest.raises(DataSourceError, match="not the layout of CCMusic's audio.zip"):
        prepare("ccmusic", tmp_path / "o3", dataset_path=other, **QUIET)


# ---------------------------------------------------------------------------------------------
# Nested genre folders


NESTED = {
    "1_Classic/1_Symphony/a.wav": 200, "1_Classic/1_Symphony/b.wav": 210,
    "1_Classic/2_Solo/c.wav": 300,
    "2_Non_classic/3_Rock/1_Soft_rock/d.wav": 400,
    "2_Non_classic/3_Rock/2_Hard_rock/e.wav": 500,
    "2_Non_classic/3_Rock/2_Hard_rock/live/f.wav": 510,  # an album folder below the last level
    "2_Non_classic/4_Pop/1_Teen_pop/g.wav": 600,
}


def test_nested_folders_give_one_label_column_per_depth(tmp_path):
    root = write_tree(tmp_path / "music", NESTED)
    (root / "manifest.csv").write_text("path,artist\n")  # files in ROOT are not songs
    out = tmp_path / "out"
    prepare(root, out, levels=3, split="all", n_jobs=1, **QUIET)
    ann = read_annotations(out / "all")
    assert list(ann.columns) == ["audio_file", "level_1", "level_2", "level_3", "source",
                                 "source_stamp"]
    rows = {Path(s).name: tuple(r) for s, r in zip(
        ann["source"], ann[["level_1", "level_2", "level_3"]].to_numpy(), strict=True)}
    assert rows == {
        "a.wav": ("Classic", "Symphony", "Symphony"), "b.wav": ("Classic", "Symphony",
                                                               "Symphony"),
        "c.wav": ("Classic", "Solo", "Solo"),  # a branch with two levels reuses its last
        "d.wav": ("Non_classic", "Rock", "Soft_rock"),
        "e.wav": ("Non_classic", "Rock", "Hard_rock"),
        "f.wav": ("Non_classic", "Rock", "Hard_rock"),  # the album folder is not a level
        "g.wav": ("Non_classic", "Pop", "Teen_pop"),
    }
    # The WAVs hold the files they are listed for.
    for row in ann.itertuples():
        y, _ = sf.read(out / row.audio_file, dtype="float32")
        assert abs(peak_hz(y[: SR // 5], SR) - NESTED[row.source]) < 10

    # Named levels.
    prepare(root, tmp_path / "named", levels=LEVELS, split="all", n_jobs=1, **QUIET)
    assert list(read_annotations(tmp_path / "named" / "all").columns)[1:4] == list(LEVELS)


def test_two_levels_of_a_three_level_tree_and_the_flat_layout_are_unchanged(tmp_path):
    root = write_tree(tmp_path / "music", NESTED)
    items = list_folder_items(root, levels=("coarse", "genre"))
    assert {it.labels["genre"] for it in items} == {"Symphony", "Solo", "Rock", "Pop"}
    flat = list_folder_items(root)  # no levels: the first folders are the genres, as before
    assert {tuple(it.labels.items()) for it in flat} == {
        (("label", "1_Classic"),), (("label", "2_Non_classic"),)}


def test_files_beside_subfolders_are_skipped_and_empty_branches_named(tmp_path):
    root = write_tree(tmp_path / "music", NESTED)
    sf.write(root / "2_Non_classic" / "3_Rock" / "stray.wav", tone(800), 16000)
    (root / "2_Non_classic" / "5_Jazz" / "1_Bebop").mkdir(parents=True)  # an empty branch
    (root / "1_Classic" / "9_Chamber").mkdir()  # stops early, and empty
    out = tmp_path / "out"
    logged = []
    report = prepare(root, out, levels=3, split="all", n_jobs=1, progress=False,
                     log=logged.append)
    assert report.written == {"all": 7}
    (skip,) = report.skipped["all"]
    assert skip[0] == "2_Non_classic/3_Rock/stray.wav"
    assert "sits beside the subfolders of 2_Non_classic/3_Rock/" in skip[1]
    assert list(read_skipped(out)["source"]) == ["2_Non_classic/3_Rock/stray.wav"]
    assert "ignored 2_Non_classic/5_Jazz/1_Bebop/: an empty genre folder" in logged
    assert "ignored 1_Classic/9_Chamber/: an empty genre folder" in logged
    assert "ignored 1_Classic/9_Chamber/: an empty genre folder" in report.summary()


def test_nested_folder_errors(tmp_path):
    root = write_tree(tmp_path / "music", NESTED)
    with pytest.raises(DataSourceError, match="classic= applies to flat"):
        prepare(root, tmp_path / "o", levels=3, classic=["Classic"], **QUIET)
    with pytest.raises(DataSourceError, match="levels names a column twice"):
        prepare(root, tmp_path / "o", levels=("a", "a"), **QUIET)
    with pytest.raises(DataSourceError, match="at least 1"):
        prepare(root, tmp_path / "o", levels=0, **QUIET)
    with pytest.raises(DataSourceError, match="apply to folder sources"):
        prepare("demo", tmp_path / "o", levels=2, **QUIET)
    (tmp_path / "hollow" / "a" / "b").mkdir(parents=True)
    with pytest.raises(DataSourceError, match="hold no files"):
        prepare(tmp_path / "hollow", tmp_path / "o", levels=2, **QUIET)
    assert not (tmp_path / "o").exists()


def test_level_names_and_prefixes():
    assert level_names(3) == ["level_1", "level_2", "level_3"]
    assert level_names("2") == ["level_1", "level_2"]
    assert level_names("fst_level_label,sec_level_label") == ["fst_level_label",
                                                              "sec_level_label"]
    assert level_names(LEVELS) == list(LEVELS)
    for bad in ((), ("a", ""), ("audio_file",), ("x", "x")):
        with pytest.raises(ValueError):
            level_names(bad)
    assert strip_number_prefix("3_Symphony") == "Symphony"
    assert strip_number_prefix("01 - Rock") == "Rock"
    assert strip_number_prefix("12.Jazz") == "Jazz"
    assert strip_number_prefix("1984") == "1984"  # only a number: kept
    assert strip_number_prefix("80s_pop") == "80s_pop"  # digits that are part of the name
    assert strip_number_prefix("Rock") == "Rock"


# ---------------------------------------------------------------------------------------------
# The label hierarchy


def test_label_hierarchy_of_ccmusic_nested_and_flat_tables(tmp_path):
    demo = tmp_path / "demo"
    prepare("demo", demo, demo_size=1, split="all", n_jobs=1, **QUIET)
    h = label_hierarchy(read_annotations(demo / "all"))
    assert list(h) == ["sec_level_label", "thr_level_label"]
    # The demo's classes, and CCMusic's hierarchy for the classes it lacks.
    assert h["sec_level_label"] == {sec: fst for sec, (fst, _) in CCMUSIC_HIERARCHY.items()}
    assert h["thr_level_label"] == {thr: sec for sec, (_, thrs) in CCMUSIC_HIERARCHY.items()
                                    for thr in thrs}
    assert label_hierarchy(demo) == h  # from the folder

    root = write_tree(tmp_path / "music", NESTED)
    prepare(root, tmp_path / "nested", levels=3, split="all", n_jobs=1, **QUIET)
    h = label_hierarchy(tmp_path / "nested" / "all")
    assert h == {"level_2": {"Symphony": "Classic", "Solo": "Classic", "Rock": "Non_classic",
                             "Pop": "Non_classic"},
                 "level_3": {"Symphony": "Symphony", "Solo": "Solo", "Soft_rock": "Rock",
                             "Hard_rock": "Rock", "Teen_pop": "Pop"}}

    flat = pd.DataFrame({"audio_file": ["a", "b", "c"], "label": ["classical", "rock", "pop"],
                         "fst_level_label": ["Classic", "Non_classic", "Non_classic"],
                         "source": ["x", "y", "z"]})
    assert label_hierarchy(flat) == {"label": {"classical": "Classic", "rock": "Non_classic",
                                               "pop": "Non_classic"}}


def test_label_hierarchy_refuses_levels_that_do_not_nest():
    df = pd.DataFrame({"level_1": ["A", "B"], "level_2": ["x", "x"]})
    with pytest.raises(ValueError, match="level_2 class 'x' falls under two level_1 classes"):
        label_hierarchy(df)
    with pytest.raises(ValueError, match="two levels or more"):
        label_hierarchy(df, ["level_1"])
    with pytest.raises(ValueError, match="no label column"):
        label_hierarchy(df, ["level_1", "genre"])


@pytest.mark.slow
def test_a_nested_folder_prepares_featurises_and_compares_models_on_every_level(tmp_path):
    from bag_of_songs.features import build_feature_tables
    from bag_of_songs.models import compare_models

    files = {}
    classes = {"1_Classic/1_Symphony": 200, "1_Classic/2_Solo": 900,
               "2_Non_classic/3_Rock/1_Soft_rock": 1800,
               "2_Non_classic/3_Rock/2_Hard_rock": 3000,
               "2_Non_classic/4_Pop/1_Teen_pop": 4500}
    for folder, f in classes.items():
        for k in range(6):
            files[f"{folder}/{k}.wav"] = f * (1 + 0.02 * k)
    root = write_tree(tmp_path / "music", files)
    out = tmp_path / "out"
    prepare(root, out, levels=3, splits="train=0.5,validation=0.17,test=0.33", n_jobs=2,
            **QUIET)
    assert list_splits(out) == ["train", "validation", "test"]
    build_feature_tables(out, n_jobs=2, progress=False, log=lambda m: None)
    results = compare_models(out, kinds=("svc",), n_jobs=1)
    trained = results[results["derived_from"].fillna("") == ""]
    assert sorted(trained["level"]) == ["level_1", "level_2", "level_3"]
    assert (trained["accuracy"] > 0.5).all()
