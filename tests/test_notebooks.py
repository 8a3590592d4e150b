"""The notebooks, executed top to bottom with nbclient: on the synthetic demo corpus and on
the real clips in ../shared/data/emotify-dev.

Parameters reach the notebooks through the environment variables their first cell (tagged
``parameters``) reads; the kernel inherits the test's environment. The kernel is this Python
(``sys.executable``), through a kernel spec written to a temporary ``JUPYTER_PATH``, so a
``python3`` kernel spec elsewhere on the machine cannot hijack the run. No network: the
Hugging Face libraries are told to stay offline.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import KERNEL_NAME

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = [ROOT / "notebooks" / name for name in (
    "1-data-preparation.ipynb",
    "2-features-explanation.ipynb",
    "3-models-prediction.ipynb",
    "4-spectrogram-cnn.ipynb",
    "5-pretrained-embeddings.ipynb",
)]
CELL_TIMEOUT = 600  # seconds per cell

NB4_FIGURES = ["log_mel_per_class.png", "cnn_training_history.png", "fusion_weight.png",
               "cnn_results.png", "cnn_confusion_matrices.png", "disagreements.png"]
NB5_FIGURES = ["taggram.png", "feature_sets.png"]

#: Figures each notebook writes to IMG_DIR when SAVE_FIGURES is on (the README's figures).
SAVED_FIGURES = {
    "1-data-preparation.ipynb": ["class_balance.png", "homogenised_clip.png"],
    "2-features-explanation.ipynb": [
        "waveform_envelope.png", "rms_zcr.png", "spectrum.png", "spectrogram.png",
        "band_energy_ratio.png", "spectral_centroid.png", "spectral_bandwidth.png",
        "spectral_rolloff.png", "chromagram.png", "mfcc.png", "feature_boxplots.png",
        "feature_correlation.png", "feature_ranking.png", "texture_windows.png",
    ],
    "3-models-prediction.ipynb": [
        "training_history.png", "confusion_matrix.png", "confusion_matrices.png",
        "results.png", "segment_probabilities.png", "segment_confusion_matrices.png",
        "prediction.png", "level_probabilities.png",
    ],
    "4-spectrogram-cnn.ipynb": NB4_FIGURES,
    "5-pretrained-embeddings.ipynb": NB5_FIGURES,
}

pytestmark = pytest.mark.slow


def run_notebooks(workdir: Path, monkeypatch, names=None, settings=None,
                  opening=None) -> dict[str, nbformat.NotebookNode]:
    """Execute the notebooks in order (in memory; the committed files are not touched).

    ``names``: the notebooks to run whole (default: all); ``settings``: notebook name ->
    ``{variable: value}`` set for that notebook's kernel only; ``opening``: notebook name ->
    number of code cells run from its top (its parameters and set-up), for a notebook whose
    first lines are what a test checks."""
    executed = {}
    for path in NOTEBOOKS:
        n_cells = (opening or {}).get(path.name)
        if n_cells is None and names is not None and path.name not in names:
            continue
        nb = nbformat.read(path, as_version=4)
        if n_cells is not None:
            code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
            nb.cells = nb.cells[:code[n_cells - 1] + 1]
        client = nbclient.NotebookClient(
            nb, timeout=CELL_TIMEOUT, kernel_name=KERNEL_NAME, allow_errors=False,
            resources={"metadata": {"path": str(workdir)}})
        start = time.monotonic()
        with monkeypatch.context() as m:  # the kernel inherits the environment when it starts
            for var, value in (settings or {}).get(path.name, {}).items():
                m.setenv(var, value)
            client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
        print(f"{path.name}: {time.monotonic() - start:.1f} s")
        executed[path.name] = nb
    return executed


def outputs(nb, output_type=None):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if output_type is None or o.output_type == output_type]


def n_figures(nb) -> int:
    return sum("image/png" in o.get("data", {}) for o in outputs(nb))


def text_of(nb) -> str:
    parts = []
    for o in outputs(nb):
        if o.output_type == "stream":
            parts.append(o.text)
        elif "text/plain" in o.get("data", {}):
            parts.append(o.data["text/plain"])
    return "\n".join(parts)


def check_executed(executed: dict) -> None:
    """What every run prints, whatever the corpus, in each notebook ``executed`` holds."""
    for name, nb in executed.items():
        assert not outputs(nb, "error"), f"{name} has error outputs"
        code_cells = [c for c in nb.cells if c.cell_type == "code"]
        assert all(c.execution_count is not None for c in code_cells), f"{name}: cells not run"
        assert n_figures(nb) >= 1, f"{name} produced no figure"
    # Every figure-drawing cell produced its figure (a lower bound per notebook).
    min_figures = {"1-data-preparation.ipynb": 2, "2-features-explanation.ipynb": 14,
                   "3-models-prediction.ipynb": 8, "4-spectrogram-cnn.ipynb": 8,
                   "5-pretrained-embeddings.ipynb": 4}
    for name, nb in executed.items():
        assert n_figures(nb) >= min_figures[name], name
    texts = {name: text_of(nb) for name, nb in executed.items()}
    if "2-features-explanation.ipynb" in texts:
        nb2 = texts["2-features-explanation.ipynb"]
        assert "K = 1292 frames; n_f = 129 frames per segment" in nb2  # texture windows
        assert "(10.0 per clip)" in nb2 and "Class medians of" in nb2
    if "3-models-prediction.ipynb" in texts:
        nb3 = texts["3-models-prediction.ipynb"]
        assert "clips with segments on both sides of a fold: 0" in nb3
        assert "groups in more than one fold: 0" in nb3
    if "4-spectrogram-cnn.ipynb" in texts:
        nb4 = texts["4-spectrogram-cnn.ipynb"]
        assert "total trainable parameters:" in nb4 and "Chosen on validation: w =" in nb4
        assert "the best model is" in nb4
    if "5-pretrained-embeddings.ipynb" in texts:
        nb5 = texts["5-pretrained-embeddings.ipynb"]
        assert "equals its mean over patches: True" in nb5
        assert "Best macro F1 over the model kinds" in nb5


def check_tables_untouched(data_dir: Path) -> None:
    """Notebooks 3-5 compare other settings in memory: the tables stay the study's."""
    for split in ("train", "validation", "test"):
        meta = json.loads((data_dir / split / "features.json").read_text())
        assert meta["segment"] is None and meta["feature_set"] == "seed", (split, meta)


def first_output(nb) -> str:
    """The text of a notebook's first output (what a reader sees first)."""
    first = outputs(nb)[0]
    return first.text if first.output_type == "stream" else first.data.get("text/plain", "")


def test_notebooks_run_on_the_demo_corpus(notebook_env, tmp_path, monkeypatch):
    """No source and no epochs set: offline (the fixture sets HF_HUB_OFFLINE=1), the default
    source `auto` falls back to the demo corpus with one paragraph, notebooks 2-5 say at the
    top that their figures are synthetic, and notebook 4 keeps the demo's short epoch limit."""
    data_dir, img_dir = tmp_path / "data", tmp_path / "img"
    monkeypatch.setenv("BAG_OF_SONGS_DEMO_SIZE", "8")  # 32 clips: 26 train, 3 validation, 3 test
    monkeypatch.setenv("BAG_OF_SONGS_DATA_DIR", str(data_dir))
    monkeypatch.setenv("BAG_OF_SONGS_IMG_DIR", str(img_dir))
    monkeypatch.setenv("BAG_OF_SONGS_SAVE_FIGURES", "1")
    monkeypatch.setenv("BAG_OF_SONGS_N_JOBS", "2")
    # Every model kind runs in this run with the notebooks' defaults where it first appears:
    # notebook 3 trains the MLP, SVC and random forest (section 3, the forest cross-validated)
    # and (section 5.3) the logistic regression; the comparisons of notebooks 3-5 leave out the
    # forest, which test_models.test_compare_models_on_demo runs through compare_models with
    # the defaults on every level (cross-validating 500 trees is most of a comparison's time).
    settings = {"3-models-prediction.ipynb": {"BAG_OF_SONGS_MODELS": "mlp,svc"},
                "4-spectrogram-cnn.ipynb": {"BAG_OF_SONGS_MODELS": "mlp,svc,cnn,hybrid"},
                "5-pretrained-embeddings.ipynb": {"BAG_OF_SONGS_MODELS": "svc"}}

    executed = run_notebooks(notebook_env, monkeypatch, settings=settings)
    assert list(executed) == [path.name for path in NOTEBOOKS]
    check_executed(executed)
    check_tables_untouched(data_dir)

    first = first_output(executed["1-data-preparation.ipynb"])
    assert first.startswith(f"data folder: {data_dir}\n")
    assert "source: demo (BAG_OF_SONGS_SOURCE: auto)" in first
    assert "HF_HUB_OFFLINE=1 is set" in first and "BAG_OF_SONGS_DATASET_PATH" in first
    for name in NOTEBOOKS[1:]:
        banner = first_output(executed[name.name])
        assert banner.startswith(f"data folder: {data_dir} (prepared from demo)"), name.name
        assert "SYNTHETIC DATA" in banner, name.name
    assert "at most 3 epochs" in text_of(executed["4-spectrogram-cnn.ipynb"])

    # What notebook 1 and 2 wrote is what notebooks 2 and 3 read.
    for split in ("train", "validation", "test"):
        assert (data_dir / split / "annotations.csv").exists()
        assert (data_dir / split / "features.csv").exists()
    assert "(661500,)" in text_of(executed["1-data-preparation.ipynb"])
    nb3 = text_of(executed["3-models-prediction.ipynb"])
    assert "fst_level_label" in nb3 and "derived from thr_level_label" in nb3
    assert "chosen by 5-fold CV over train + validation" in nb3
    assert "the model's own labels on all 3 test clips: True" in nb3  # model.pipeline (section 7)
    back = re.search(r"and back, as a model: test macro F1 ([\d.]+) \(the SVC's own: ([\d.]+)\)",
                     nb3)  # GenreClassifier.from_pipeline
    assert back and back.group(1) == back.group(2), nb3[-2000:]
    assert "synthetic demo corpus" in text_of(executed["4-spectrogram-cnn.ipynb"])
    # SAVE_FIGURES wrote every README figure, small enough for the repository.
    expected = sorted(f for names in SAVED_FIGURES.values() for f in names)
    assert sorted(p.name for p in img_dir.glob("*.png")) == expected
    too_big = [p.name for p in img_dir.glob("*.png") if p.stat().st_size > 200_000]
    assert not too_big, f"figures over 200 KB: {too_big}"
    # Nothing was written where the kernel ran.
    assert not any(notebook_env.iterdir())


def test_notebook_1_explains_an_unreachable_ccmusic(notebook_env, tmp_path, monkeypatch):
    """The default source offline: notebook 1 stops at `prepare` with the package's clear error
    (naming the ways out), never with an empty corpus."""
    data_dir = tmp_path / "data"
    monkeypatch.setenv("BAG_OF_SONGS_SOURCE", "ccmusic")
    monkeypatch.setenv("BAG_OF_SONGS_DATA_DIR", str(data_dir))
    monkeypatch.setenv("BAG_OF_SONGS_IMG_DIR", str(tmp_path / "img"))
    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name=KERNEL_NAME,
                                     resources={"metadata": {"path": str(notebook_env)}})
    with pytest.raises(nbclient.exceptions.CellExecutionError) as info:
        client.execute()
    assert info.value.ename == "DataSourceError"
    assert "Ways out" in info.value.evalue and "ModelScope" in info.value.evalue
    failed = [c for c in nb.cells if c.cell_type == "code"
              and any(o.output_type == "error" for o in c.get("outputs", []))]
    assert len(failed) == 1 and "prepare_source(" in failed[0].source
    assert not list(data_dir.glob("*/annotations.csv"))


def test_a_relative_data_dir_is_taken_from_the_project_root(notebook_env, tmp_path,
                                                            monkeypatch):
    """`BAG_OF_SONGS_DATA_DIR=runs/demo` with the kernel in a project's notebooks/ folder (as
    Jupyter starts it) is <project>/runs/demo, printed first: notebook 3's opening cells."""
    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'mine'\n")
    data_dir = project / "runs" / "demo"
    data_dir.mkdir(parents=True)
    (data_dir / "prepare.json").write_text(json.dumps({"splits": {"train": {"source": "demo"}}}))
    monkeypatch.setenv("BAG_OF_SONGS_DATA_DIR", "runs/demo")
    nb = nbformat.read(NOTEBOOKS[2], as_version=4)
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    nb.cells = nb.cells[:code[1] + 1]  # the parameters and the imports (which print first)
    nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name=KERNEL_NAME,
                            resources={"metadata": {"path": str(project / "notebooks")}}
                            ).execute()
    assert first_output(nb).startswith(f"data folder: {data_dir} (prepared from demo)")
    assert not (project / "notebooks" / "runs").exists()


def test_committed_notebooks_are_stripped_and_parameterised():
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        code_cells = [c for c in nb.cells if c.cell_type == "code"]
        assert "parameters" in code_cells[0].metadata.get("tags", []), path.name
        for var in ("BAG_OF_SONGS_DATA_DIR", "BAG_OF_SONGS_IMG_DIR",
                    "BAG_OF_SONGS_LEVEL", "BAG_OF_SONGS_SAVE_FIGURES"):
            assert var in code_cells[0].source, (path.name, var)
        assert ("BAG_OF_SONGS_SOURCE" in code_cells[0].source) == (path == NOTEBOOKS[0])
        # Variables, paths and defaults from the package's one place (bag_of_songs.notebook),
        # never read in the notebook nor from where the package file sits.
        assert "from bag_of_songs.notebook import" in code_cells[0].source, path.name
        assert "DATA_DIR = data_dir()" in code_cells[0].source, path.name
        assert "__file__" not in code_cells[0].source, path.name
        assert not any("os.environ" in c.source for c in code_cells), path.name
        assert all(c.outputs == [] and c.execution_count is None for c in code_cells), \
            f"{path.name}: commit it with outputs stripped"
        # No logic in notebooks: functions and classes belong in the package.
        assert not any(line.lstrip().startswith(("def ", "class ", "sys.path"))
                       for c in code_cells for line in c.source.splitlines()), path.name


def test_importing_plot_changes_no_global_style():
    code = ("import matplotlib as mpl; before = dict(mpl.rcParams); import bag_of_songs.plot; "
            "import seaborn; changed = [k for k, v in mpl.rcParams.items() if before[k] != v]; "
            "assert not changed, changed")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "MPLBACKEND": "Agg"})


def test_readme_lists_every_notebook_variable_and_figure():
    """Every BAG_OF_SONGS_* variable a notebook reads is in the README's table, and every
    figure the README shows is in img/ and saved by a notebook."""
    import re

    readme = (ROOT / "README.md").read_text()
    listed = set(re.findall(r"`(BAG_OF_SONGS_\w+)`", readme))
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        used = set(re.findall(r"BAG_OF_SONGS_\w+", "\n".join(
            c.source for c in nb.cells if c.cell_type == "code")))
        assert used <= listed, (path.name, sorted(used - listed))
    saved = {f for names in SAVED_FIGURES.values() for f in names}
    shown = set(re.findall(r"\(img/([\w.-]+\.png)\)", readme))
    assert shown and shown <= saved, sorted(shown - saved)
    assert all((ROOT / "img" / f).exists() for f in shown), \
        sorted(f for f in shown if not (ROOT / "img" / f).exists())
