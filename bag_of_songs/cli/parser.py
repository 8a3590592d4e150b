"""The parser of the ``bag-of-songs`` command line: its seven subcommands, their options and
the checks of option values.

Nothing heavy is imported here, so that ``bag-of-songs --help`` stays fast: the lists of choices
that mirror the library (model kinds, feature sets, musicnn layers) are written out, and tests
check they agree.
"""

from __future__ import annotations

import argparse

from .._version import __version__
from .tag_command import add_parser as _add_tag_command

#: Model kinds the command line knows (mirrors bag_of_songs.models.MODEL_KINDS without
#: importing torch for --help).
KINDS = ("mlp", "svc", "rf", "logreg", "lda", "linsvc", "cnn", "hybrid")
DEFAULT_MODELS = "mlp,svc,rf"


def _n_jobs(text: str) -> int:
    n = int(text)
    if n == 0:
        raise argparse.ArgumentTypeError("must be a positive count, or negative (-1: all cores)")
    return n


def _positive(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not 0 < v <= 3600 or v != v:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return v


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n-jobs", type=_n_jobs, default=-1,
                   help="worker processes for decoding and feature extraction (default -1: all "
                        "cores; never more than there are clips)")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="run decoding and feature extraction on an existing Dask cluster, e.g. "
                        "tcp://10.0.0.5:8786 (default: $BAG_OF_SONGS_SCHEDULER, else local "
                        "processes; needs pip install 'bag-of-songs[dask]')")
    _add_quiet(p)


def _add_quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", "-q", action="store_true",
                   help="no progress bars (one line per stage, skipped inputs and errors "
                        "still show)")


def _add_prepare_options(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--split", metavar="NAME",
                   help="put the whole source into this one split (e.g. test); other splits in "
                        "--out are left alone")
    g.add_argument("--splits", metavar="SPEC", default=None,
                   help="stratified, seeded fractions for folder and demo sources (and datasets "
                        "with a single split), default train=0.8,validation=0.1,test=0.1")
    p.add_argument("--label-column", metavar="COL",
                   help="label column of a Hugging Face dataset (default: the CCMusic levels "
                        "when present, else 'label'); for a flat folder, the name of its genre "
                        "column (default 'label')")
    p.add_argument("--levels", metavar="COLS",
                   help="nested folder source ROOT/<level 1>/<level 2>/.../<file>: the label "
                        "column of each depth, comma-separated, coarse to fine (e.g. "
                        "fst_level_label,sec_level_label,thr_level_label), or a depth (e.g. 3: "
                        "level_1, level_2, level_3)")
    p.add_argument("--revision", metavar="REV",
                   help="hub revision (for ccmusic, default: the known revisions that still "
                        "have its loading script, tried in order)")
    p.add_argument("--config", metavar="NAME", help="configuration (subset) of a hub dataset")
    p.add_argument("--trust-remote-code", action="store_true",
                   help="let a hub dataset run its loading script (only for datasets you trust; "
                        "always on for ccmusic, whose default subset needs it)")
    p.add_argument("--dataset-path", metavar="PATH",
                   help="with source ccmusic: a local copy of the corpus (a save_to_disk folder, "
                        "e.g. from ModelScope, or the extracted audio.zip) instead of the hub")
    p.add_argument("--demo-size", type=_positive, default=20, metavar="N",
                   help="demo corpus: clips per style (4 styles; default 20)")
    p.add_argument("--classic", metavar="GENRES",
                   help="flat folder source: comma-separated genre folders that are Classic "
                        "(default: classical, classic, symphony, opera, solo, chamber, ...)")
    p.add_argument("--group-by", metavar="COL",
                   help="folder source: keep clips sharing this column of the manifest (e.g. "
                        "artist) in one split, for honest evaluation")
    p.add_argument("--manifest", metavar="CSV",
                   help="with --group-by: a CSV with 'path' (relative to the folder) and COL "
                        "(default: FOLDER/manifest.csv)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the split and of every model (default 0)")


class _MusicnnModels(tuple):
    """The musicnn models ``--musicnn-model`` offers: iterating gives them (the help, and the
    test that they are bag_of_songs.musicnn.MODELS), and a comma-separated list of distinct
    ones is a valid choice too (``MSD_musicnn,MTT_musicnn``)."""

    def __contains__(self, value) -> bool:
        names = value.split(",") if isinstance(value, str) else []
        return (bool(names) and len(set(names)) == len(names)
                and all(tuple.__contains__(self, n) for n in names))


def _add_feature_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default=None, choices=("study", "best"),
                   help="named settings for the options left at their defaults: study (the "
                        "study's, the default) or best (the best measured on real music: both "
                        "musicnn models' penultimate layers, mean and std over 3 s patches; with "
                        "run, the regularised linear heads logreg, lda, linsvc; see the README)")
    p.add_argument("--stats", default="mean", metavar="LIST",
                   help="pooling statistics over frames, comma-separated from mean, std, median, "
                        "min, max (default: mean, the study's 32 columns)")
    # The choices of bag_of_songs.features.TABLE_FEATURE_SETS and MUSICNN_LAYERS (not imported,
    # so that --help stays fast; a test checks they agree).
    p.add_argument("--feature-set", default="seed",
                   choices=("seed", "extended", "musicnn", "seed+musicnn", "extended+musicnn"),
                   help="seed: the study's nine features (default); extended: adds spectral "
                        "contrast, flatness, onset strength, tempo and MFCC deltas; musicnn: "
                        "the embedding of the pretrained musicnn network (mean over 3 s "
                        "patches; about 0.3 s per clip and core; needs pip install --no-deps "
                        "musicnn==0.1.0); seed+musicnn, extended+musicnn: both side by side")
    p.add_argument("--musicnn-model", choices=_MusicnnModels(("MSD_musicnn", "MTT_musicnn")),
                   default=None, metavar="MODEL[,MODEL]",
                   help="with a musicnn feature set: MSD_musicnn (default; trained on the "
                        "Million Song Dataset) or MTT_musicnn (MagnaTagATune), or both, "
                        "comma-separated (MSD_musicnn,MTT_musicnn: their layers side by side, "
                        "one front end; the network cost doubles)")
    p.add_argument("--musicnn-layer", default=None,
                   choices=("penultimate", "mean_pool", "max_pool", "taggram"),
                   help="with a musicnn feature set: penultimate (default, 200 values, "
                        "recommended), mean_pool or max_pool (753 each), taggram (50 tag "
                        "probabilities)")
    p.add_argument("--n-mfcc", type=_positive, default=13, metavar="N",
                   help="MFCCs, 1 to 128 (default 13)")
    p.add_argument("--segment", type=_seconds, default=None, metavar="S",
                   help="texture windows: one row per segment of S seconds (e.g. 3) instead of "
                        "one per clip; models then decide a clip by the mean of its segments' "
                        "probabilities (default: whole clips, as in the study)")
    p.add_argument("--segment-hop", type=_seconds, default=None, metavar="S",
                   help="hop between segments in seconds (default: the segment length, no "
                        "overlap)")


def _add_cnn_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("cnn and hybrid models (log-mel spectrogram CNN)")
    g.add_argument("--epochs", type=_positive, default=30, metavar="N",
                   help="at most N epochs, early-stopped on the validation clips (default 30)")
    g.add_argument("--crops-per-clip", type=_positive, default=4, metavar="N",
                   help="random 3 s crops of each training clip per epoch (default 4)")
    g.add_argument("--n-mels", type=_positive, default=96, metavar="N",
                   help="mel bands of the spectrogram (default 96)")
    g.add_argument("--device", default="auto",
                   help="auto (a GPU when torch sees one, default), cpu, cuda...")


def _add_selection_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--selection", choices=("auto", "cv", "split"), default="auto",
                   help="how hyper-parameters (and MLP epochs) are chosen: cv = 5-fold "
                        "cross-validation over train + validation with folds that keep clips "
                        "(and --group-by groups) whole; split = the validation split; auto "
                        "(default) = cv below 1,000 clips, else split")


def _add_prepare_command(sub) -> None:
    """The ``prepare`` subcommand: decode a source into 30 s WAVs."""
    p = sub.add_parser(
        "prepare", help="decode a source into 30 s mono 22,050 Hz WAVs plus annotations.csv",
        description="Decode every clip of SOURCE, mix to mono, resample to 22,050 Hz, crop/pad "
                    "to 30 s and write OUT/<split>/audios/*.wav and OUT/<split>/annotations.csv. "
                    "Undecodable inputs are skipped and listed in OUT/<split>/skipped.csv. "
                    "Re-running resumes.")
    p.add_argument("source", metavar="SOURCE",
                   help="'demo' (synthetic, offline), 'ccmusic', a folder of genre subfolders "
                        "(flat or nested), a local Hugging Face dataset folder, or a hub id")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="output folder (not inside SOURCE)")
    _add_prepare_options(p)
    _add_common(p)


def _add_features_command(sub) -> None:
    """The ``features`` subcommand: the feature table of every split."""
    p = sub.add_parser("features", help="extract the feature table of every split under DIR",
                       description="Write DIR/<split>/features.csv for every prepared split.")
    p.add_argument("data_dir", metavar="DIR", help="a folder written by `prepare`")
    _add_feature_options(p)
    p.add_argument("--force", action="store_true",
                   help="rebuild the tables even when they are up to date with these settings "
                        "(by default they are reused)")
    _add_common(p)


def _add_train_command(sub) -> None:
    """The ``train`` subcommand: one model on a prepared folder."""
    p = sub.add_parser(
        "train", help="train one model on DIR/train (and DIR/validation)",
        description="Train on DIR/train/features.csv. Hyper-parameters (and the MLP's epochs) "
                    "are chosen by cross-validation over train + validation for corpora under "
                    "1,000 clips, else on DIR/validation/features.csv (or 15% of train when "
                    "there is no validation split); see --selection.")
    p.add_argument("data_dir", metavar="DIR", help="a folder with feature tables (`features`)")
    p.add_argument("--model", choices=KINDS, default="mlp",
                   help="model kind (default: mlp, the study's network); cnn and hybrid learn "
                        "from log-mel spectrograms (cached in DIR/<split>/cache/ on first use)")
    p.add_argument("--label-column", required=True, metavar="COL",
                   help="the label level to learn: fst_level_label, sec_level_label, "
                        "thr_level_label, label...")
    p.add_argument("--out", required=True, metavar="MODEL",
                   help="folder to save the model in (new, empty, or a model saved before)")
    p.add_argument("--seed", type=int, default=0, help="seed of initialisation, shuffling and "
                   "folds (default 0)")
    _add_selection_options(p)
    p.add_argument("--group-by", metavar="COL",
                   help="keep clips sharing this column (of annotations.csv or --manifest, e.g. "
                        "artist) in one fold")
    p.add_argument("--manifest", metavar="CSV",
                   help="with --group-by: a CSV with 'path' (each clip's source) and COL")
    _add_cnn_options(p)
    _add_quiet(p)


def _add_evaluate_command(sub) -> None:
    """The ``evaluate`` subcommand: a saved model's metrics on one split."""
    p = sub.add_parser(
        "evaluate", help="metrics of a saved model on one split, per clip",
        description="Score MODEL on DIR/<split> (test by default): accuracy, macro F1, the "
                    "per-class report and the confusion matrix, one prediction per clip (a "
                    "segment or crop model averages its clip's probabilities). The table must "
                    "have been built with the model's feature settings.")
    p.add_argument("model", metavar="MODEL", help="a model folder written by `train` or `run`")
    p.add_argument("data_dir", metavar="DIR", help="a folder with feature tables (`features`)")
    p.add_argument("--split", default="test", help="split to evaluate (default test)")
    p.add_argument("--level", metavar="COL",
                   help="score a coarser level derived from the model's predictions (e.g. "
                        "fst_level_label for a thr_level_label model)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (keys as bag_of_songs.models.evaluate) and "
                        "nothing else on stdout")
    _add_quiet(p)


def _add_predict_command(sub) -> None:
    """The ``predict`` subcommand: the genre of new audio files."""
    p = sub.add_parser(
        "predict", help="the genre of new audio files (or of every file in a folder)",
        description="Print the genre of each FILE: a line 'FILE: genre (probabilities)' per "
                    "file, or for a folder a tab-separated table with a header. File names "
                    "are printed escaped as by `ls --quoting-style=escape`: a backslash as "
                    "\\\\, a tab as \\t, a newline as \\n, a carriage return as \\r, other "
                    "control characters and bytes that are not UTF-8 as \\xNN, so that each "
                    "file is one line (--json writes the name as a JSON string instead).")
    p.add_argument("model", metavar="MODEL", help="a model folder written by `train` or `run`")
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="audio files (wav, flac, ogg, mp3) or folders (every audio file below)")
    p.add_argument("--all-levels", action="store_true",
                   help="also the coarser levels the model's classes determine, derived from "
                        "the same probabilities (they always agree)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    _add_quiet(p)


def _add_run_command(sub) -> None:
    """The ``run`` subcommand: the whole pipeline."""
    p = sub.add_parser(
        "run", help="prepare, features, train all models, evaluate, write results.csv",
        description="The whole pipeline. With no arguments: the synthetic demo corpus, offline. "
                    "Run again, it reuses what is up to date: the prepared clips, feature tables "
                    "built with the same settings, and each model in OUT/models trained on the "
                    "same tables with the same options (see --force).")
    p.add_argument("--source", default="demo",
                   help="demo (default), ccmusic, a hub id or a folder")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="data folder (default: ccmusic for CCMusic, else runs/<source name>)")
    p.add_argument("--level", nargs="+", default=None, metavar="COL",
                   help="label column(s) (default: every level the source has)")
    p.add_argument("--models", default=DEFAULT_MODELS,
                   help=f"comma-separated, from {', '.join(KINDS)} (default {DEFAULT_MODELS})")
    _add_prepare_options(p)
    _add_feature_options(p)
    _add_selection_options(p)
    _add_cnn_options(p)
    p.add_argument("--force", action="store_true",
                   help="rebuild the feature tables and retrain every model even when they "
                        "are up to date (by default they are reused)")
    _add_common(p)


def build_parser() -> argparse.ArgumentParser:
    """The parser of the ``bag-of-songs`` command line and its seven subcommands."""
    parser = argparse.ArgumentParser(
        prog="bag-of-songs",
        description="Music-genre classification from hand-crafted audio features.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_prepare_command(sub)
    _add_features_command(sub)
    _add_train_command(sub)
    _add_evaluate_command(sub)
    _add_predict_command(sub)
    _add_run_command(sub)
    _add_tag_command(sub)
    parser.subcommands = sub.choices  # each subcommand's parser (its defaults, for --preset)
    return parser
