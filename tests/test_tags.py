"""Tags with no training: ``tag_file`` / ``tag_files`` and the ``tag`` subcommand.

Known answers from ``../shared/data/musicnn-reference/``: the taggrams of the original
TensorFlow musicnn on three emotify-dev clips, both models. The clips are 30.003 s long, so the
whole file (what musicnn's tagger reads) gives the same 10 patches as the reference's first
30 s. Tests that need the checkpoints skip, naming the pip command, when the ``musicnn`` wheel
is not installed; with ``CI=true`` they fail instead.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import EMOTIFY, IN_CI, SHARED, require

from bag_of_songs.cli import tag_command
from bag_of_songs.data import write_clip
from bag_of_songs.demo import synthesize_demo_clip
from bag_of_songs.embeddings import musicnn as mn
from bag_of_songs.embeddings.musicnn.tags import FileTags, rank_tags, tag_file, tag_files
from bag_of_songs.errors import AudioLoadError, MusicnnError

REFERENCE = SHARED / "data" / "musicnn-reference"

#: The top 5 of the original tagger (``musicnn.tagger.top_tags``: the stored taggram averaged
#: over the patches, ``argsort()[-5:][::-1]``), per model and clip of meta.json.
ORIGINAL_TOP5 = {
    "MSD_musicnn": (
        ["jazz", "instrumental", "ambient", "electronic", "folk"],
        ["rock", "pop", "alternative", "indie", "alternative rock"],
        ["electronic", "dance", "House", "electro", "electronica"],
    ),
    "MTT_musicnn": (
        ["flute", "classical", "slow", "strings", "violin"],
        ["guitar", "rock", "pop", "drums", "vocal"],
        ["techno", "electronic", "beat", "synth", "drums"],
    ),
}


@pytest.fixture(scope="module")
def weights_root() -> Path:
    try:
        return mn.musicnn_checkpoint_dir("MSD_musicnn").parent
    except MusicnnError as exc:
        if IN_CI:
            pytest.fail(f"{exc} (CI=true requires the checkpoints)")
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def reference(weights_root) -> dict:
    """meta.json, the clip files and the stored taggrams of both models."""
    root = require(REFERENCE)
    emotify = require(EMOTIFY)
    meta = json.loads((root / "meta.json").read_text())
    taggrams = {}
    for model in mn.MODELS:
        for i in range(len(meta["clips"])):
            with np.load(root / f"{model}_clip{i}.npz") as f:
                taggrams[model, i] = f["taggram"]
    return {"meta": meta, "files": [emotify / c for c in meta["clips"]], "taggram": taggrams}


def _cli(argv: list[str]) -> argparse.Namespace:
    """Parse ``tag ...`` with a parser holding only the ``tag`` subcommand."""
    parser = argparse.ArgumentParser(prog="bag-of-songs")
    tag_command.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["tag", *argv])


# ---------------------------------------------------------------------------------------------
# Ranking (no checkpoints needed)

def test_rank_tags_known_answer_and_tie_order():
    taggram = np.zeros((2, 50))
    taggram[:, 1] = [0.9, 0.7]  # classical: mean 0.8
    taggram[:, 9] = [0.1, 0.5]  # piano: mean 0.3
    taggram[:, 4] = 0.3  # strings: mean 0.3 too; musicnn's argsort()[::-1] puts the later first
    ranked = rank_tags(taggram, model="MTT_musicnn", top=3)
    assert [t for t, _ in ranked] == ["classical", "piano", "strings"]
    np.testing.assert_allclose([s for _, s in ranked], [0.8, 0.3, 0.3])
    assert len(rank_tags(taggram, model="MTT_musicnn", top=50)) == 50


@pytest.mark.parametrize("top", [0, 51, -1, 2.5, True, "5", None])
def test_rank_tags_refuses_a_bad_top(top):
    with pytest.raises(MusicnnError, match="top must be a whole number of tags from 1 to 50"):
        rank_tags(np.zeros((1, 50)), top=top)


@pytest.mark.parametrize("taggram", [np.zeros((0, 50)), np.zeros((2, 49)), np.zeros(50),
                                     np.full((1, 50), np.nan), np.array([["a"] * 50])])
def test_rank_tags_refuses_a_bad_taggram(taggram):
    with pytest.raises(MusicnnError, match="expected a taggram"):
        rank_tags(taggram)


def test_rank_tags_refuses_an_unknown_model():
    with pytest.raises(MusicnnError, match="unknown musicnn model 'MSD_vgg'"):
        rank_tags(np.zeros((1, 50)), model="MSD_vgg")


# ---------------------------------------------------------------------------------------------
# Against the original musicnn

@pytest.mark.parametrize("model", mn.MODELS)
def test_ranking_of_the_stored_taggrams_is_the_original_tagger(reference, model):
    for i in range(len(reference["meta"]["clips"])):
        ranked = rank_tags(reference["taggram"][model, i], model=model, top=5)
        assert [t for t, _ in ranked] == ORIGINAL_TOP5[model][i]


@pytest.mark.parametrize("model", mn.MODELS)
def test_tag_file_gives_the_original_tags(reference, model):
    """From the mp3 files: the original's top 5 in its order, and each score within 1e-5 of the
    original's mean probability (the port's float32 rounding, measured at most 1.5e-6; the
    gap between the 5th and 6th tag is at least 0.018 on these clips)."""
    for i, path in enumerate(reference["files"]):
        result = tag_file(path, model=model)
        assert isinstance(result, FileTags)
        assert list(result.tags) == ORIGINAL_TOP5[model][i], path
        assert result.n_patches == 10 and result.model == model and result.file == str(path)
        mean = reference["taggram"][model, i].mean(axis=0)
        expected = [mean[mn.musicnn_tags(model).index(t)] for t in result.tags]
        np.testing.assert_allclose(result.scores, expected, rtol=0, atol=1e-5)
        assert list(result.scores) == sorted(result.scores, reverse=True)


def test_tag_file_reads_the_whole_file_as_librosa_load(weights_root, tmp_path):
    """musicnn's tagger reads the whole file with librosa.load(path, sr=16000) (mono, not
    cropped to 30 s): a 34 s stereo 44.1 kHz file gives 11 patches and the scores of the
    signal librosa decodes; a 1 s file is repeated to fill one patch."""
    import librosa

    left = synthesize_demo_clip("dance", 0, sr=44100, duration=34.0)
    right = synthesize_demo_clip("symphony", 0, sr=44100, duration=34.0)
    path = tmp_path / "long.wav"
    write_clip(path, np.stack([left, right], axis=1), sr=44100)
    result = tag_file(path, model="MTT_musicnn", top=50)
    y, _ = librosa.load(path, sr=16000)
    taggram = mn.embed_patches(mn.musicnn_input(y, sr=16000), model="MTT_musicnn",
                               layers=["taggram"])["taggram"]
    assert result.n_patches == taggram.shape[0] == 11
    expected = dict(rank_tags(taggram, model="MTT_musicnn", top=50))
    np.testing.assert_allclose(result.scores, [expected[t] for t in result.tags], rtol=0,
                               atol=1e-5)
    short = tmp_path / "short.wav"
    write_clip(short, left[:44100], sr=44100)
    assert tag_file(short, top=1).n_patches == 1


def test_tag_files_table(reference):
    files = reference["files"][:2]
    table = tag_files(files, model="MTT_musicnn", n_jobs=1, progress=False)
    assert table.shape == (2, 50) and table.index.name == "file"
    assert table.columns.tolist() == mn.musicnn_tags("MTT_musicnn")
    for i, path in enumerate(files):
        assert table.loc[str(path)].nlargest(5).index.tolist() == ORIGINAL_TOP5["MTT_musicnn"][i]


# ---------------------------------------------------------------------------------------------
# Bad input (no checkpoints needed: refused before the network is loaded)

def test_tag_file_refuses_bad_input(tmp_path):
    garbage = tmp_path / "noise.mp3"
    garbage.write_bytes(b"not audio at all " * 64)
    with pytest.raises(AudioLoadError, match="noise.mp3: cannot decode audio"):
        tag_file(garbage)
    with pytest.raises(AudioLoadError, match="missing.wav: no such file"):
        tag_file(tmp_path / "missing.wav")
    with pytest.raises(AudioLoadError, match="is a folder"):
        tag_file(tmp_path)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioLoadError, match="the file is empty"):
        tag_file(empty)
    with pytest.raises(MusicnnError, match="unknown musicnn model"):
        tag_file(garbage, model="MTT_vgg")
    with pytest.raises(MusicnnError, match="top must be"):
        tag_file(garbage, top=0)


# ---------------------------------------------------------------------------------------------
# The command line

def test_cli_choices_mirror_the_library():
    assert tag_command.MODELS == mn.MODELS
    assert tag_command.N_TAGS == len(mn.musicnn_tags()) == len(mn.musicnn_tags("MTT_musicnn"))


@pytest.mark.parametrize("top", ["0", "51", "x"])
def test_cli_refuses_a_bad_top(top, capsys):
    with pytest.raises(SystemExit) as exc:
        _cli(["song.mp3", "--top", top])
    assert exc.value.code == 2
    assert "--top" in capsys.readouterr().err


def test_cli_json_on_a_file(reference, capsys):
    path = reference["files"][0]
    args = _cli([str(path), "--model", "MTT_musicnn", "--top", "3", "--json"])
    assert tag_command.run(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    rec = json.loads(lines[0])
    assert rec["file"] == str(path) and rec["model"] == "MTT_musicnn" and rec["n_patches"] == 10
    assert [t["tag"] for t in rec["tags"]] == ORIGINAL_TOP5["MTT_musicnn"][0][:3]
    assert all(0 < t["score"] < 1 for t in rec["tags"])


def test_cli_on_a_folder(reference, tmp_path, capsys):
    """A folder means its audio files, recursively and sorted (other files are left alone):
    --json gives an object per file, the default a tab-separated table with a header and
    escaped names."""
    folder = tmp_path / "music"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(reference["files"][1], folder / "sub" / "b\tsong.mp3")
    shutil.copy(reference["files"][0], folder / "a.mp3")
    (folder / "notes.txt").write_text("not audio")
    assert tag_command.run(_cli([str(folder), "--json"])) == 0
    recs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["file"] for r in recs] == [str(folder / "a.mp3"), str(folder / "sub" / "b\tsong.mp3")]
    assert [[t["tag"] for t in r["tags"]] for r in recs] == list(ORIGINAL_TOP5["MSD_musicnn"][:2])

    (folder / "a.mp3").unlink()  # the table, on the file with the name to escape
    assert tag_command.run(_cli([str(folder), "--top", "2"])) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split("\t") == ["file", "tag_1", "score_1", "tag_2", "score_2"]
    assert len(rows) == 1
    name, tag_1, score_1, tag_2, score_2 = rows[0].split("\t")
    assert name == str(folder / "sub" / "b\\tsong.mp3") and [tag_1, tag_2] == ["rock", "pop"]
    assert float(score_1) == pytest.approx(recs[1]["tags"][0]["score"], abs=1e-4)


def test_cli_reports_bad_files_and_goes_on(reference, tmp_path, capsys):
    garbage = tmp_path / "bad\nname.mp3"
    garbage.write_bytes(b"not audio at all " * 64)
    good = reference["files"][2]
    assert tag_command.run(_cli([str(garbage), str(good)])) == tag_command.EXIT_ERROR == 2
    out, err = capsys.readouterr()
    [line] = out.splitlines()
    assert line.startswith(f"{good}: ")
    ranked = [item.rsplit(" ", 1) for item in line[len(f"{good}: "):].split(", ")]
    assert [t for t, _ in ranked] == ORIGINAL_TOP5["MSD_musicnn"][2]
    assert all(len(s) == 5 and 0 < float(s) < 1 for _, s in ranked)  # 3 decimals
    assert err.count("\n") == 1 and err.startswith("error: ") and "bad\\nname.mp3" in err


def test_cli_folder_without_audio(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not audio")
    assert tag_command.run(_cli([str(tmp_path)])) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: ") and "no audio files" in err
    assert err.count("\n") == 1


def test_missing_checkpoints_name_the_pip_command(tmp_path):
    path = tmp_path / "song.wav"
    write_clip(path, synthesize_demo_clip("dance", 0, sr=16000, duration=4.0), sr=16000)
    with pytest.raises(MusicnnError, match="pip install --no-deps musicnn==0.1.0"):
        tag_file(path, weights_dir=tmp_path)


def test_a_name_that_is_not_utf8(weights_root, tmp_path, capsys):
    """The file's own length is read from a name that is not UTF-8 too (else it would be
    padded to 30 s: 10 patches instead of 2), and the command line prints the name escaped."""
    import os

    if os.name == "nt":
        pytest.skip("file names are Unicode on Windows")
    name = os.fsdecode(b"caf\xe9.wav")
    path = tmp_path / name
    try:
        write_clip(path, synthesize_demo_clip("dance", 0, sr=16000, duration=6.0), sr=16000)
    except (OSError, UnicodeEncodeError):
        pytest.skip("the file system refuses names that are not UTF-8")
    assert tag_file(path, top=1).n_patches == 2
    assert tag_command.run(_cli([str(tmp_path), "--top", "1"])) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[1].split("\t")[0] == str(tmp_path / "caf\\xe9.wav")
