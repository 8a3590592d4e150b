"""The notebooks' parameters: ``BAG_OF_SONGS_*`` variables, paths, the default source, banners.

Every notebook's first cell (tagged ``parameters``) reads its knobs through :func:`env`,
:func:`data_dir` and :func:`img_dir`, so that one place decides how a variable is parsed, how
a relative path resolves and what the defaults are; the notebooks hold no logic of their own.

**Relative paths.** Jupyter starts a notebook's kernel in the notebook's folder, so a relative
``BAG_OF_SONGS_DATA_DIR=runs/demo`` would otherwise land in ``notebooks/runs/demo``. The rule
(:func:`base_dir`): a relative path is taken from the **project root** when the kernel runs in
a project's ``notebooks/`` folder (a folder named ``notebooks`` whose parent holds
``pyproject.toml``), and from the working directory otherwise. Each notebook prints the
absolute paths it uses in its first output.

**The default source** of notebook 1 is ``"auto"`` (:func:`resolve_source`): CCMusic when the
Hugging Face hub answers (:func:`bag_of_songs.hub.probe_hub`, a few seconds at most),
otherwise the synthetic demo corpus, with one paragraph saying so and how to choose another
source. Notebooks 2-5 read what notebook 1 prepared in the same default data folder and say in
their first output when it is the synthetic corpus (:func:`banner`, from ``prepare.json``).

Used by every notebook (``notebooks/1-data-preparation.ipynb`` explains the parameters).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ._constants import PREPARE_RECORD
from .data import PrepareReport, prepare
from .data.sources.hub import HubStatus, probe_hub
from .errors import DataSourceError

__all__ = [
    "ENV_PREFIX",
    "DEMO_EPOCHS",
    "STUDY_EPOCHS",
    "env",
    "base_dir",
    "resolve_path",
    "env_path",
    "data_dir",
    "img_dir",
    "prepared_sources",
    "is_demo",
    "banner",
    "epochs",
    "SourceChoice",
    "resolve_source",
    "prepare_source",
    "tied_best",
    "describe_best",
    "describe_best_per_level",
]

#: The prefix of every notebook variable.
ENV_PREFIX = "BAG_OF_SONGS_"

#: Notebook 4's epoch limit on real data (the study's benchmark setting).
STUDY_EPOCHS = 30
#: Notebook 4's epoch limit on the synthetic demo corpus, whose styles are separable within a
#: few epochs: keeps the notebook's default run short.
DEMO_EPOCHS = 3

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")

#: Source names that are not paths.
_KEYWORDS = ("auto", "ccmusic", "demo")

#: The ways to a real corpus, named in every message about the demo fallback.
_WAYS = (
    "To use real music, set BAG_OF_SONGS_SOURCE before starting Jupyter (and run notebook 1 "
    "again): `ccmusic` once the hub can be reached, or `ccmusic` with BAG_OF_SONGS_DATASET_PATH "
    "set to a local copy of CCMusic (a `save_to_disk` folder, or ModelScope's `audio.zip` "
    "extracted), or the path of a folder of genre subfolders of your own music; "
    "`BAG_OF_SONGS_SOURCE=demo` chooses the synthetic corpus without trying the hub."
)


# ---------------------------------------------------------------------------------------------
# Variables and paths


def env(name: str, default):
    """The environment variable ``name``, parsed as the type of ``default``.

    Parameters
    ----------
    name : str
        The full variable name, e.g. ``"BAG_OF_SONGS_EPOCHS"``.
    default : str, bool, int, float or None
        Returned when the variable is not set (or set to an empty string, for a default that
        is not a string). A bool default reads ``1/true/yes/on`` and ``0/false/no/off``; an int
        or float default the number; ``None`` the string, or ``None`` when empty.

    Returns
    -------
    value : the type of ``default``

    Raises
    ------
    ValueError
        When the value cannot be read as that type (the message names the variable).
    """
    if not name.startswith(ENV_PREFIX):
        raise ValueError(f"{name}: notebook variables start with {ENV_PREFIX}")
    raw = os.environ.get(name)
    if raw is None:
        return default
    text = raw.strip()
    if isinstance(default, bool):
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(f"{name}={raw!r}: expected 1 or 0 (true/false, yes/no)")
    if default is None:
        return text or None
    if isinstance(default, (int, float)) and not text:
        return default
    try:
        return type(default)(text)
    except ValueError:
        kind = {int: "a whole number", float: "a number"}.get(type(default), type(default).__name__)
        raise ValueError(f"{name}={raw!r}: expected {kind}") from None


def base_dir(cwd: str | os.PathLike | None = None) -> Path:
    """The folder relative notebook paths are taken from.

    The project root when ``cwd`` (default: the working directory, where Jupyter starts the
    kernel: the notebook's folder) is a project's ``notebooks/`` folder, i.e. a folder named
    ``notebooks`` whose parent holds ``pyproject.toml``; otherwise ``cwd`` itself.

    Parameters
    ----------
    cwd : path-like, optional

    Returns
    -------
    base : Path
        Absolute.
    """
    here = Path(cwd if cwd is not None else Path.cwd()).expanduser().absolute()
    if here.name == "notebooks" and (here.parent / "pyproject.toml").is_file():
        return here.parent
    return here


def resolve_path(path: str | os.PathLike, *, cwd: str | os.PathLike | None = None) -> Path:
    """``path`` made absolute by the rule of :func:`base_dir` (``~`` expanded).

    Parameters
    ----------
    path : path-like
    cwd : path-like, optional
        The working directory to apply the rule to (default: the current one).

    Returns
    -------
    path : Path
        Absolute.
    """
    p = Path(path).expanduser()
    return p if p.is_absolute() else base_dir(cwd) / p


def env_path(name: str, default: str | os.PathLike | None = None, *,
             cwd: str | os.PathLike | None = None) -> Path | None:
    """The path in the environment variable ``name``, absolute (:func:`resolve_path`).

    Parameters
    ----------
    name : str
        The full variable name.
    default : path-like, optional
        Used when the variable is unset or empty (resolved the same way); None: return None.
    cwd : path-like, optional

    Returns
    -------
    path : Path or None
    """
    value = env(name, None) or default
    return resolve_path(value, cwd=cwd) if value is not None else None


def _project_dir(cwd=None) -> Path:
    """The repository checkout the package runs from (editable install), else :func:`base_dir`."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() else base_dir(cwd)


def data_dir(*, cwd: str | os.PathLike | None = None) -> Path:
    """The prepared data folder: ``BAG_OF_SONGS_DATA_DIR``, else ``ccmusic/`` of the project.

    A relative ``BAG_OF_SONGS_DATA_DIR`` follows :func:`base_dir`'s rule. The default is
    ``ccmusic/`` in the repository checkout the package runs from, else in :func:`base_dir`:
    the one folder notebook 1 prepares whatever the source, and notebooks 2-5 read.

    Parameters
    ----------
    cwd : path-like, optional

    Returns
    -------
    path : Path
        Absolute.
    """
    return env_path("BAG_OF_SONGS_DATA_DIR", _project_dir(cwd) / "ccmusic", cwd=cwd)


def img_dir(*, cwd: str | os.PathLike | None = None) -> Path:
    """Where figures are saved: ``BAG_OF_SONGS_IMG_DIR``, else ``img/`` beside ``ccmusic/``.

    Parameters
    ----------
    cwd : path-like, optional

    Returns
    -------
    path : Path
        Absolute.
    """
    return env_path("BAG_OF_SONGS_IMG_DIR", _project_dir(cwd) / "img", cwd=cwd)


# ---------------------------------------------------------------------------------------------
# What a data folder holds


def prepared_sources(path: str | os.PathLike) -> dict[str, str]:
    """The source each split of a prepared folder came from, as ``prepare.json`` records it.

    Parameters
    ----------
    path : path-like
        A folder written by :func:`bag_of_songs.data.prepare`.

    Returns
    -------
    sources : dict split -> str
        Empty when the folder has no readable record.
    """
    try:
        record = json.loads((Path(path) / PREPARE_RECORD).read_text())
        splits = record.get("splits", {})
        return {str(k): str(v.get("source", "")) for k, v in splits.items()
                if isinstance(v, Mapping)}
    except (OSError, ValueError, AttributeError):
        return {}


def is_demo(path: str | os.PathLike) -> bool:
    """Whether a prepared folder holds the synthetic demo corpus (any split prepared from it).

    Parameters
    ----------
    path : path-like

    Returns
    -------
    bool
    """
    return "demo" in prepared_sources(path).values()


def banner(path: str | os.PathLike) -> str:
    """The first line of notebooks 2-5: the data folder used, and whether it is synthetic.

    Parameters
    ----------
    path : path-like
        The prepared data folder (``DATA_DIR``).

    Returns
    -------
    text : str
        The absolute folder and its source; when the source is the demo corpus, a sentence
        saying that every figure and score comes from synthetic data, and how to change it.

    Raises
    ------
    DataSourceError
        When the folder holds no prepared corpus (no ``prepare.json`` and no
        ``train/annotations.csv``): the message says to run notebook 1 first.
    """
    folder = Path(path).expanduser().absolute()
    sources = prepared_sources(folder)
    if not sources and not (folder / "train" / "annotations.csv").is_file():
        raise DataSourceError(
            f"no prepared data in {folder}: run notebook 1 (1-data-preparation.ipynb) first, "
            f"with the same BAG_OF_SONGS_DATA_DIR, or set BAG_OF_SONGS_DATA_DIR to a folder "
            f"that `bag-of-songs prepare` wrote")
    names = sorted(set(sources.values())) or ["unknown (no prepare.json)"]
    line = f"data folder: {folder} (prepared from {', '.join(names)})"
    if "demo" in names:
        line += (
            "\nSYNTHETIC DATA: this folder holds the synthetic demo corpus (notebook 1 uses it "
            "when CCMusic cannot be loaded). Every figure and score below comes from "
            "synthesised tones and drums, not from music. " + _WAYS)
    return line


def epochs(path: str | os.PathLike) -> int:
    """Notebook 4's epoch limit: ``BAG_OF_SONGS_EPOCHS``, else by the data folder's source.

    :data:`DEMO_EPOCHS` on the synthetic demo corpus (so that the notebook's default run stays
    short), :data:`STUDY_EPOCHS` otherwise.

    Parameters
    ----------
    path : path-like
        The prepared data folder.

    Returns
    -------
    epochs : int
    """
    n = env("BAG_OF_SONGS_EPOCHS", -1)
    if n == -1:
        return DEMO_EPOCHS if is_demo(path) else STUDY_EPOCHS
    if n < 1:
        raise ValueError(f"BAG_OF_SONGS_EPOCHS={n}: expected a positive whole number")
    return n


# ---------------------------------------------------------------------------------------------
# The source of notebook 1


@dataclass(frozen=True)
class SourceChoice:
    """The source notebook 1 prepares, and why.

    Attributes
    ----------
    requested : str
        What was asked for (``BAG_OF_SONGS_SOURCE``; ``"auto"`` by default).
    source : str
        What :func:`bag_of_songs.data.prepare` is given: ``"ccmusic"``, ``"demo"``, a folder
        (absolute) or a hub id.
    message : str
        A paragraph for the reader (empty when there is nothing to explain).
    prepare : bool
        False when the data folder already holds a real corpus that is kept as it is (the
        hub could not be reached and the demo corpus must not replace it).
    fallback : bool
        Whether a failure to load CCMusic may still fall back to the demo corpus (``auto``).
    """

    requested: str
    source: str
    message: str = ""
    prepare: bool = True
    fallback: bool = False

    def describe(self) -> str:
        """The source in one line, then the message (if any) as a paragraph of its own."""
        asked = f" (BAG_OF_SONGS_SOURCE: {self.requested})" if self.requested != self.source else ""
        return f"source: {self.source}{asked}" + (f"\n\n{self.message}" if self.message else "")


def _demo_or_keep(requested: str, why: str, folder: Path | None) -> SourceChoice:
    """The ``auto`` source when CCMusic is out of reach: the demo, or the real corpus already
    in ``folder``."""
    real = sorted({s for s in prepared_sources(folder).values() if s != "demo"}) if folder else []
    if real:
        return SourceChoice(requested, real[0], prepare=False, message=(
            f"CCMusic cannot be loaded ({why}). The data folder {folder} already holds a corpus "
            f"prepared from {', '.join(real)}: notebooks 1-5 use it as it is (it is neither "
            f"prepared again nor replaced by the synthetic demo corpus). " + _WAYS))
    return SourceChoice(requested, "demo", message=(
        f"CCMusic cannot be loaded ({why}), so this run uses the synthetic demo corpus, "
        f"built offline in seconds: every figure and score in notebooks 1-5 then comes from "
        f"synthetic data, not from music (notebooks 2-5 say so at the top). " + _WAYS))


def resolve_source(requested: str | None = None, *,
                   dataset_path: str | os.PathLike | None = None,
                   data_dir: str | os.PathLike | None = None,
                   probe: Callable[[], HubStatus] = probe_hub,
                   cwd: str | os.PathLike | None = None) -> SourceChoice:
    """Which source notebook 1 prepares.

    ``"auto"`` (the default) is CCMusic when a local copy is given (``dataset_path``) or the
    hub answers ``probe`` (a few seconds at most offline), and otherwise the synthetic demo
    corpus, with a paragraph that says so and names the variables that choose another source.
    When the hub is out of reach and ``data_dir`` already holds a real corpus, that corpus is
    kept (``prepare=False``) rather than replaced by the demo. Any other value is used as
    given; a relative folder follows :func:`base_dir`'s rule.

    Parameters
    ----------
    requested : str, optional
        ``"auto"``, ``"ccmusic"``, ``"demo"``, a folder or a hub id (default:
        ``BAG_OF_SONGS_SOURCE``, else ``"auto"``).
    dataset_path : path-like, optional
        ``BAG_OF_SONGS_DATASET_PATH``: a local copy of CCMusic.
    data_dir : path-like, optional
        The folder to be prepared (to keep a real corpus already there).
    probe : callable
        Returns a :class:`bag_of_songs.hub.HubStatus` (tests replace it).
    cwd : path-like, optional

    Returns
    -------
    choice : SourceChoice
    """
    requested = (requested if requested is not None else env("BAG_OF_SONGS_SOURCE", "auto"))
    requested = str(requested).strip() or "auto"
    folder = Path(data_dir).expanduser().absolute() if data_dir is not None else None
    if requested.lower() != "auto":
        if requested in _KEYWORDS:
            return SourceChoice(requested, requested)
        local = resolve_path(requested, cwd=cwd)
        return SourceChoice(requested, str(local) if local.exists() else requested)
    if dataset_path is not None:
        return SourceChoice(requested, "ccmusic", fallback=True, message=(
            f"source auto: CCMusic from the local copy {dataset_path} "
            f"(BAG_OF_SONGS_DATASET_PATH)."))
    status = probe()
    if status:
        return SourceChoice(requested, "ccmusic", fallback=True, message=(
            f"source auto: the Hugging Face hub ({status.endpoint}) answers, so CCMusic is "
            f"loaded (set BAG_OF_SONGS_SOURCE=demo for the small synthetic corpus instead)."))
    return _demo_or_keep(requested, f"the Hugging Face hub cannot be reached: {status.reason}",
                         folder)


def _first_line(text: str) -> str:
    return next((line for line in text.splitlines() if line.strip()), text).strip()


def prepare_source(choice: SourceChoice, out_dir: str | os.PathLike, *,
                   log: Callable[[str], None] = print, **kwargs
                   ) -> tuple[SourceChoice, PrepareReport]:
    """:func:`bag_of_songs.data.prepare` of the chosen source, with ``auto``'s fallback.

    When ``choice.fallback`` (``auto`` chose CCMusic) and CCMusic fails to load, ``log``
    receives one paragraph (the reason and the ways to a real corpus) and the demo corpus is
    prepared instead (or a real corpus already in ``out_dir`` is kept). Other errors, and
    every error of a source chosen explicitly, are raised.

    Parameters
    ----------
    choice : SourceChoice
        From :func:`resolve_source`.
    out_dir : path-like
    log : callable
        Receives the fallback paragraph (default: ``print``).
    **kwargs
        Passed to :func:`bag_of_songs.data.prepare`.

    Returns
    -------
    choice : SourceChoice
        The source actually prepared (or kept).
    report : bag_of_songs.data.PrepareReport
        For a kept corpus, an empty report whose summary says so.
    """
    out = Path(out_dir)
    if choice.prepare:
        try:
            return choice, prepare(choice.source, out, **kwargs)
        except DataSourceError as exc:
            if not (choice.fallback and choice.source == "ccmusic"):
                raise
            choice = _demo_or_keep(choice.requested, _first_line(str(exc)), out)
            log(choice.message)
            if choice.prepare:
                ccmusic_only = ("revision", "dataset_path")
                rest = {k: v for k, v in kwargs.items() if k not in ccmusic_only}
                return choice, prepare("demo", out, **rest)
    report = PrepareReport(out_dir=out, notes=[
        f"kept the corpus already prepared in {out.absolute()} (from {choice.source}); "
        f"nothing was prepared"])
    return choice, report


# ---------------------------------------------------------------------------------------------
# Wording results


def tied_best(scores: Mapping[str, float], *, tol: float = 1e-9) -> list[str]:
    """The names with the highest score, in the order given (several when tied).

    Parameters
    ----------
    scores : mapping name -> float
        E.g. a row of macro F1 per model. Missing values (NaN) are ignored.
    tol : float
        Scores within ``tol`` of the best count as tied.

    Returns
    -------
    names : list of str
        Empty when no score is a number.
    """
    valid = {k: float(v) for k, v in scores.items() if v is not None and float(v) == float(v)}
    if not valid:
        return []
    top = max(valid.values())
    return [k for k, v in valid.items() if v >= top - tol]


def describe_best(scores: Mapping[str, float], *, metric: str = "macro F1",
                  tol: float = 1e-9) -> str:
    """The best of ``scores`` in words, naming every name tied at the top.

    Parameters
    ----------
    scores : mapping name -> float
    metric : str
        The score's name, for the text.
    tol : float

    Returns
    -------
    text : str
        E.g. ``"SVC (macro F1 0.83)"`` or ``"a tie between MLP, SVC and CNN (macro F1
        1.00)"``; ``"none (no scores)"`` when there is none.
    """
    best = tied_best(scores, tol=tol)
    if not best:
        return "none (no scores)"
    value = f"{metric} {float(scores[best[0]]):.2f}"
    if len(best) == 1:
        return f"{best[0]} ({value})"
    names = f"{', '.join(map(str, best[:-1]))} and {best[-1]}"
    every = " (all of them)" if len(best) == len(scores) else ""
    return f"a tie between {names}{every} ({value})"


def describe_best_per_level(results, *, metric: str = "f1_macro",
                            names: Mapping[str, str] | None = None,
                            tol: float = 1e-9) -> dict[str, str]:
    """:func:`describe_best` for each level of a comparison table, every tie named.

    Parameters
    ----------
    results : pandas.DataFrame
        What :func:`bag_of_songs.models.compare_models` returns: columns ``level``, ``model``,
        ``metric`` and optionally ``derived_from`` (a derived row is named "SVC derived from
        label").
    metric : str
    names : mapping, optional
        How to spell each model kind (e.g. ``{"rf": "Random forest"}``).
    tol : float

    Returns
    -------
    texts : dict level -> str
        In the order the levels first appear.
    """
    names = dict(names or {})
    spelled = {"f1_macro": "macro F1", "accuracy": "accuracy", "f1": "F1"}.get(metric, metric)
    out: dict[str, str] = {}
    for level in dict.fromkeys(results["level"]):
        rows = results[results["level"] == level]
        scores = {}
        for row in rows.itertuples(index=False):
            name = names.get(row.model, row.model)
            derived = getattr(row, "derived_from", "") or ""
            scores[f"{name} derived from {derived}" if derived else name] = getattr(row, metric)
        out[level] = describe_best(scores, metric=spelled, tol=tol)
    return out
