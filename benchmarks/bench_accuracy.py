"""Accuracy benchmark: whole-clip vs segment features x models x label levels, on real music,
with repeated artist-grouped cross-validation.

Run from the repository root::

    python benchmarks/bench_accuracy.py [--clips PATH] [--repeats 3] [--folds 5]
                                        [--models mlp,svc,rf,logreg] [--n-jobs 2]

``--clips`` is a folder of genre subfolders of audio files with a ``manifest.csv`` (``path``,
``artist``), by default ``../shared/data/emotify-dev`` (120 real 30 s excerpts: classical,
electronic, pop, rock; 76 artists). Without it the benchmark prints a note and exits 0.

Protocol. Every clip is decoded once (30 s, mono, 22,050 Hz) and featurised the ways named
in ``SETTINGS`` (``--settings``, default all): the study's whole-clip mean (32 columns),
whole-clip mean + std (64), 3 s texture windows (10 rows per clip) of the study's features or
of the extended set, and the pretrained musicnn embedding alone or beside the study's columns.
Outer loop:
``--repeats`` x ``--folds``-fold cross-validation stratified by genre and **grouped by
artist**, so no artist of a test fold was heard in training. In each outer fold every model
chooses its hyper-parameters by the project's own rule on the training part only
(``bag_of_songs.models.select_model``: inner 5-fold CV, grouped by artist too) and is scored
per clip on the held-out part (a segment model averages its segments' probabilities). Two
levels: the 4 genres, and Classic (classical) vs Non_classic, trained directly; plus Classic /
Non_classic *derived* from the 4-genre model (the parent of the best fine class).

Prints macro-F1 mean and standard deviation over the outer folds (and the spread of the
per-repeat means). This is a script, not a test: it takes minutes.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
_SHARED = Path(os.environ.get("BAG_OF_SONGS_SHARED", ROOT.parent / "shared"))
DEFAULT_CLIPS = _SHARED / "data" / "emotify-dev"
CLASSIC = {"classical"}

#: name -> (stats, segment seconds[, feature_set]): feature_set "seed" unless given. The musicnn
#: settings are the MSD_musicnn penultimate embedding (200-d) averaged over the clip's 3 s
#: patches, alone and beside the study's 32 means.
SETTINGS = {
    "clip mean (study)": (("mean",), None),
    "clip mean+std": (("mean", "std"), None),
    "3 s segments mean+std": (("mean", "std"), 3.0),
    "extended 3 s segments mean": (("mean",), 3.0, "extended"),
    "extended 3 s segments mean+std": (("mean", "std"), 3.0, "extended"),
    "musicnn": (("mean",), None, "musicnn"),
    "seed+musicnn": (("mean",), None, "seed+musicnn"),
    # --preset best: both models' penultimate layers, mean and std over the 3 s patches
    "best (MSD+MTT musicnn mean+std)": (("mean", "std"), None, "musicnn",
                                        {"musicnn_model": "MSD_musicnn,MTT_musicnn"}),
}


def featurise(clips: Path, names=None) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """The feature tables of every clip (one per setting), and each clip's artist.

    The network runs once per clip: a ``seed+musicnn`` row is the ``seed`` row followed by the
    ``musicnn`` row of the same statistics, which is what ``extract_features(y,
    feature_set="seed+musicnn")`` returns (tests/test_musicnn_features.py checks the parts).
    """
    from bag_of_songs.data import load_audio
    from bag_of_songs.features import extract_features, split_feature_set

    manifest = pd.read_csv(clips / "manifest.csv", dtype=str, keep_default_na=False)
    settings = {n: SETTINGS[n] for n in (names or SETTINGS)}
    tables: dict[str, list] = {name: [] for name in settings}
    t0 = time.perf_counter()
    for rel, genre in zip(manifest["path"], manifest["genre"], strict=True):
        y = load_audio(clips / rel)
        labels = {"audio_file": rel, "label": genre,
                  "fst_level_label": "Classic" if genre in CLASSIC else "Non_classic"}
        parts: dict = {}  # (part, stats, segment) -> features, each computed once per clip

        def part(name, stats, segment, extra=(), y=y, parts=parts):
            if (name, stats, segment, extra) not in parts:
                parts[name, stats, segment, extra] = extract_features(
                    y, stats=stats, segment=segment, feature_set=name, **dict(extra))
            return parts[name, stats, segment, extra]

        for name, (stats, segment, *rest) in settings.items():
            extra = tuple(sorted(rest[1].items())) if len(rest) > 1 else ()
            pieces = [part(p, stats, segment, extra if p == "musicnn" else ())
                      for p in split_feature_set(rest[0] if rest else "seed") if p]
            if segment is None:
                row = {}
                for piece in pieces:
                    row.update(piece)
                tables[name].append({**labels, **row})
            else:
                feats = pd.concat([pieces[0], *[p.drop(columns="segment") for p in pieces[1:]]],
                                  axis=1)
                for row in feats.to_dict("records"):
                    tables[name].append({**labels, **row})
    print(f"featurised {len(manifest)} clips {len(settings)} ways in "
          f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
    artists = dict(zip(manifest["path"], manifest["artist"], strict=True))
    return {k: pd.DataFrame(v) for k, v in tables.items()}, artists


def outer_folds(table: pd.DataFrame, artists: dict, *, repeats: int, folds: int):
    """(repeat, train clips, test clips) of the artist-grouped outer cross-validation."""
    from sklearn.model_selection import StratifiedGroupKFold

    clips = table.drop_duplicates("audio_file")
    files = clips["audio_file"].to_numpy()
    for r in range(repeats):
        skf = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=r)
        for tr, te in skf.split(files, clips["label"].to_numpy(),
                                groups=[artists[f] for f in files]):
            yield r, set(files[tr]), set(files[te])


def score_fold(table, artists, train_files, test_files, kind, seed):
    """Macro F1 per clip on the test part: 4 genres, Classic direct, Classic derived."""
    from bag_of_songs.models import (
        TabularDataset,
        coarse_parents,
        evaluate,
        select_model,
    )

    train = table[table["audio_file"].isin(train_files)]
    test = table[table["audio_file"].isin(test_files)]
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for level in ("label", "fst_level_label"):
            ds = TabularDataset(train, label_column=level)
            model = select_model(kind, ds, None, selection="cv", groups=artists, seed=seed,
                                 n_jobs=1)
            model.hierarchy = coarse_parents(train, level)
            out[level] = evaluate(model, test)["f1_macro"]
            if level == "label":
                out["fst_level_label (derived)"] = evaluate(
                    model, test, level="fst_level_label")["f1_macro"]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=Path, default=DEFAULT_CLIPS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--models", default="mlp,svc,rf,logreg")
    parser.add_argument("--settings", default=",".join(
        ["clip mean (study)", "clip mean+std", "3 s segments mean+std",
         "extended 3 s segments mean"]),
                        help="comma-separated names of SETTINGS")
    parser.add_argument("--n-jobs", type=int, default=2, help="outer folds run in parallel")
    args = parser.parse_args(argv)
    if not (args.clips / "manifest.csv").exists():
        print(f"no clips with a manifest.csv at {args.clips}: nothing to measure")
        return 0
    from joblib import Parallel, delayed

    names = [n for n in args.settings.split(",") if n]
    unknown = [n for n in names if n not in SETTINGS]
    if unknown:
        parser.error(f"unknown setting(s) {unknown}; choose from {list(SETTINGS)}")
    tables, artists = featurise(args.clips, names)
    kinds = [k for k in args.models.split(",") if k]
    jobs, keys = [], []
    for name in names:
        table = tables[name]
        for r, tr, te in outer_folds(table, artists, repeats=args.repeats, folds=args.folds):
            for kind in kinds:
                keys.append((name, kind, r))
                jobs.append(delayed(score_fold)(table, artists, tr, te, kind, r))
    t0 = time.perf_counter()
    results = Parallel(n_jobs=args.n_jobs, verbose=0)(jobs)
    print(f"{len(jobs)} fold fits in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    rows = [{"features": name, "model": kind, "repeat": r, "level": level, "f1_macro": v}
            for (name, kind, r), res in zip(keys, results, strict=True)
            for level, v in res.items()]
    df = pd.DataFrame(rows)
    summary = df.groupby(["level", "features", "model"], sort=False)["f1_macro"].agg(
        ["mean", "std"])
    per_repeat = df.groupby(["level", "features", "model", "repeat"], sort=False)[
        "f1_macro"].mean().groupby(["level", "features", "model"], sort=False).std()
    summary["repeat spread"] = per_repeat
    print(f"\nmacro F1 per clip, {args.repeats} x {args.folds}-fold CV grouped by artist "
          f"({df['repeat'].nunique() * args.folds} outer folds; hyper-parameters by inner "
          "grouped CV on each training part)\n")
    for level, part in summary.groupby(level=0, sort=False):
        print(f"== {level}")
        table = part.droplevel(0)["mean"].unstack("model")
        std = part.droplevel(0)["std"].unstack("model")
        cells = table.round(3).astype(str) + " ± " + std.round(3).astype(str)
        print(cells.to_string())
        print()
    best = summary["mean"].groupby(level=0).idxmax()
    for level, key in best.items():
        print(f"best for {level}: {key[1]} with {key[2]} ({summary.loc[key, 'mean']:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
