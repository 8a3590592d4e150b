"""Benchmark of the spectrogram CNN and the hybrid: training cost and artist-grouped accuracy.

Run from the repository root::

    python benchmarks/bench_cnn.py [--clips N] [--shared PATH] [--folds 5] [--speed-only]

``--shared`` is the folder of real clips (genre subfolders of mp3 files and a ``manifest.csv``
with an ``artist`` column), by default ``../shared/data/emotify-dev`` beside the repository (or
``$BAG_OF_SONGS_SHARED/data/emotify-dev``). Without it the benchmark prints a note and exits 0.

1. Preparation: every clip prepared into one split in a temporary folder (time printed), the
   mean + std hand-crafted feature table built, then the log-mel cache built (time printed
   apart, per clip) and opened again (reused: time printed).
2. Speed: with ``--clips`` clips (default 100), seconds per training epoch of the CNN and the
   hybrid (``crops_per_clip`` random 3 s crops per clip, batch 16), split into the training
   steps (seconds per crop) and the clip-level validation pass (seconds per predicted crop),
   with 1 and with 2 torch threads; then the per-epoch cost extrapolated to CCMusic's 1,370
   training and 171 validation clips. The machine's load average is printed beside the
   figures: on a shared machine they vary with what else runs.
3. Accuracy: artist-grouped cross-validation on all the clips (``StratifiedGroupKFold``,
   ``--folds`` folds; inside each training part one artist-grouped sixth is held out for early
   stopping and model choice), on the 4 genres (``label``) and Classic vs Non_classic
   (``fst_level_label``): macro-F1 (mean, standard deviation and range over folds) of the CNN,
   the hybrid, the feature MLP and SVC of ``bag_of_songs.models`` on the same folds, and late
   fusion of the CNN's and the MLP's probabilities (weight chosen on the validation clips).

This is a script, not a test: timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
_SHARED = Path(os.environ.get("BAG_OF_SONGS_SHARED", ROOT.parent / "shared"))
DEFAULT_CLIPS = _SHARED / "data" / "emotify-dev"
LEVELS = ("label", "fst_level_label")
CCMUSIC_TRAIN, CCMUSIC_VAL = 1370, 171


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return (f"load average {one:.1f} / {five:.1f} / {fifteen:.1f} (1, 5, 15 min) on "
            f"{os.cpu_count() or 0} cores")


def prepare_corpus(src: Path, out: Path, *, n_jobs: int):
    """All clips of ``src`` in split ``all``: WAVs, mean+std features, log-mel cache."""
    from bag_of_songs.cnn import log_mel_cache
    from bag_of_songs.data import prepare
    from bag_of_songs.features import build_feature_table

    t0 = time.perf_counter()
    prepare(src, out, split="all", n_jobs=n_jobs, progress=False, log=lambda m: None)
    t_prep = time.perf_counter() - t0
    t0 = time.perf_counter()
    table = build_feature_table(out / "all", stats=("mean", "std"), n_jobs=n_jobs,
                                progress=False, log=lambda m: None)
    t_feat = time.perf_counter() - t0
    t0 = time.perf_counter()
    specs, files, skipped = log_mel_cache(out / "all", n_jobs=n_jobs, log=print)
    t_cache = time.perf_counter() - t0
    t0 = time.perf_counter()
    log_mel_cache(out / "all", n_jobs=n_jobs, log=print)
    t_reuse = time.perf_counter() - t0
    n = len(files)
    print(f"prepared {n} clips in {t_prep:.1f} s; mean+std feature table in {t_feat:.1f} s")
    print(f"log-mel cache built in {t_cache:.1f} s ({1000 * t_cache / n:.0f} ms per clip, "
          f"{n_jobs} worker(s)), {specs.nbytes / 1e6:.0f} MB float16; reopened (reused) in "
          f"{1000 * t_reuse:.1f} ms; {len(skipped)} clip(s) left out")
    return specs, files, table


def labels_and_groups(out: Path, src: Path, files: list[str], table: pd.DataFrame):
    """Per cache row: the label levels, the artist, and the row of the feature table."""
    from bag_of_songs.cnn import clip_indices

    ann = pd.read_csv(out / "all" / "annotations.csv", dtype=str,
                      keep_default_na=False).set_index("audio_file")
    manifest = pd.read_csv(src / "manifest.csv", dtype=str,
                           keep_default_na=False).set_index("path")
    sources = ann.loc[files, "source"].to_numpy()
    artists = np.array([manifest["artist"].get(s, s) for s in sources], dtype=object)
    table_rows = clip_indices(list(table["audio_file"].to_numpy()), files)
    return ann.loc[files], artists, table_rows


# ---------------------------------------------------------------------------------------------
# 2. Speed


def measure_speed(specs, tab, y, *, n_clips: int, crops_per_clip: int, epochs: int):
    from bag_of_songs.cnn import fit_normalizer, predict_clip_proba, take_clips, train_cnn

    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(len(specs), size=min(n_clips, len(specs)), replace=False))
    val_idx = np.setdiff1d(np.arange(len(specs)), idx)[:20]
    tr = take_clips(specs, idx)
    va = take_clips(specs, val_idx if len(val_idx) else idx[:10])
    norm = fit_normalizer(tr)
    rows = []
    for threads in (1, 2):
        for kind in ("cnn", "hybrid"):
            kw = ({"train_tab": tab[idx]} if kind == "hybrid" else {})
            module, hist, info = train_cnn(tr, y[idx], n_classes=int(y.max()) + 1,
                                           normalizer=norm, crops_per_clip=crops_per_clip,
                                           epochs=epochs, device="cpu", n_threads=threads,
                                           **kw)
            train_s = float(np.median(hist["seconds"]))
            vt = {"tab": tab[val_idx if len(val_idx) else idx[:10]]} if kind == "hybrid" else {}
            t0 = time.perf_counter()
            predict_clip_proba(module, va, normalizer=norm, crop_frames=info["crop_frames"],
                               n_threads=threads, **vt)
            val_s = time.perf_counter() - t0
            n_val_crops = len(va) * 11
            per_crop = train_s / (len(idx) * crops_per_clip)
            per_pred = val_s / n_val_crops
            cc_epoch = (CCMUSIC_TRAIN * crops_per_clip * per_crop + CCMUSIC_VAL * 11 * per_pred)
            rows.append({"model": kind, "threads": threads, "train_clips": len(idx),
                         "s_per_epoch_train": train_s, "ms_per_train_crop": 1000 * per_crop,
                         "ms_per_predicted_crop": 1000 * per_pred,
                         "s_per_epoch_with_val": train_s + val_s * 20 / max(len(va), 1),
                         "ccmusic_s_per_epoch": cc_epoch,
                         "ccmusic_s_per_epoch_1crop": (CCMUSIC_TRAIN * per_crop
                                                       + CCMUSIC_VAL * 11 * per_pred)})
            print(f"  {kind:<7} {threads} thread(s): {train_s:.1f} s per epoch of training "
                  f"({len(idx)} clips x {crops_per_clip} crops; {1000 * per_crop:.0f} ms per "
                  f"crop), {1000 * per_pred:.1f} ms per predicted crop; CCMusic "
                  f"({CCMUSIC_TRAIN} + {CCMUSIC_VAL} clips): {cc_epoch:.0f} s per epoch with "
                  f"{crops_per_clip} crops per clip, {rows[-1]['ccmusic_s_per_epoch_1crop']:.0f}"
                  f" s with 1 [{_load()}]", flush=True)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# 3. Artist-grouped accuracy


def cross_validate(specs, table, table_rows, ann, artists, *, levels, folds: int, epochs: int,
                   patience: int, seed: int):
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedGroupKFold

    from bag_of_songs.cnn import (
        choose_fusion_weight,
        late_fusion_proba,
        predict_clip_proba,
        take_clips,
        train_cnn,
    )
    from bag_of_songs.models import TabularDataset, fit_svc, train_mlp

    rows = []
    for level in levels:
        labels = ann[level].to_numpy().astype(str)
        classes = sorted(set(labels))
        y = np.array([classes.index(v) for v in labels])
        outer = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        for k, (rest, test) in enumerate(outer.split(y, y, artists)):
            inner = StratifiedGroupKFold(n_splits=6, shuffle=True, random_state=seed)
            a, b = next(inner.split(rest, y[rest], artists[rest]))
            tr, va = rest[a], rest[b]
            frame = table.iloc[table_rows].reset_index(drop=True)
            train_ds = TabularDataset(frame.iloc[tr], label_column=level, classes=classes)
            val_ds, test_ds = train_ds.derive(frame.iloc[va]), train_ds.derive(frame.iloc[test])
            probas, t_fold = {}, time.perf_counter()
            for kind in ("cnn", "hybrid"):
                kw = ({"train_tab": train_ds.X, "val_tab": val_ds.X} if kind == "hybrid"
                      else {})
                module, hist, info = train_cnn(
                    take_clips(specs, tr), y[tr], take_clips(specs, va), y[va],
                    n_classes=len(classes), epochs=epochs, patience=patience, seed=seed, **kw)
                pk = {"normalizer": info["normalizer"], "crop_frames": info["crop_frames"],
                      "crop_hop": info["crop_hop"]}
                probas[kind] = predict_clip_proba(
                    module, take_clips(specs, test), tab=test_ds.X if kind == "hybrid" else None,
                    **pk)
                if kind == "cnn":
                    cnn_val = predict_clip_proba(module, take_clips(specs, va), **pk)
                    cnn_epochs = info["stopped_epoch"]
            mlp, _ = train_mlp(train_ds, val_ds, seed=seed)
            probas["mlp"] = mlp.predict_proba(test_ds.X)
            probas["svc"] = fit_svc(train_ds, val_ds, seed=seed).predict_proba(test_ds.X)
            w = choose_fusion_weight(cnn_val, mlp.predict_proba(val_ds.X), y[va])
            probas["late fusion cnn+mlp"] = late_fusion_proba([probas["cnn"], probas["mlp"]],
                                                              weights=[w, 1 - w])
            for model, p in probas.items():
                pred = p.argmax(axis=1)
                rows.append({"level": level, "fold": k, "model": model, "n_test": len(test),
                             "accuracy": float(np.mean(pred == y[test])),
                             "f1_macro": float(f1_score(y[test], pred, average="macro",
                                                        labels=list(range(len(classes))),
                                                        zero_division=0)),
                             "fusion_weight": w if model.startswith("late") else np.nan})
            done = {r["model"]: round(r["f1_macro"], 2) for r in rows[-len(probas):]}
            print(f"  {level} fold {k + 1}/{folds}: train {len(tr)}, val {len(va)}, test "
                  f"{len(test)}; macro-F1 {done}; CNN epochs {cnn_epochs}, fusion weight "
                  f"{w:.1f}; {time.perf_counter() - t_fold:.0f} s", flush=True)
    return pd.DataFrame(rows)


def summarise(cv: pd.DataFrame) -> pd.DataFrame:
    g = cv.groupby(["level", "model"], sort=False)
    out = g["f1_macro"].agg(["mean", "std", "min", "max"]).add_prefix("f1_macro_")
    out["accuracy_mean"] = g["accuracy"].mean()
    out["folds"] = g.size()
    return out.reset_index()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shared", type=Path, default=DEFAULT_CLIPS,
                   help="folder of real clips: genre subfolders and manifest.csv")
    p.add_argument("--clips", type=int, default=100, help="training clips of the speed test")
    p.add_argument("--crops-per-clip", type=int, default=4)
    p.add_argument("--speed-epochs", type=int, default=2)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--patience", type=int, default=5)
    p.add_argument("--levels", default=",".join(LEVELS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-jobs", type=int, default=2)
    p.add_argument("--speed-only", action="store_true")
    p.add_argument("--accuracy-only", action="store_true")
    p.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = p.parse_args(argv)
    if not (args.shared / "manifest.csv").exists():
        print(f"note: no real clips at {args.shared} (with manifest.csv); nothing to measure")
        return 0
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {_load()}")
    tmp = Path(tempfile.mkdtemp(prefix="bench_cnn-"))
    result = {}
    try:
        out = tmp / "data"
        specs, files, table = prepare_corpus(args.shared, out, n_jobs=args.n_jobs)
        ann, artists, table_rows = labels_and_groups(out, args.shared, files, table)
        from bag_of_songs.models import TabularDataset

        if not args.accuracy_only:
            print(f"\nspeed ({args.clips} training clips, 4 genres):")
            ds = TabularDataset(table.iloc[table_rows], label_column="label")
            speed = measure_speed(specs, ds.X, ds.y, n_clips=args.clips,
                                  crops_per_clip=args.crops_per_clip, epochs=args.speed_epochs)
            result["speed"] = speed.to_dict(orient="records")
        if not args.speed_only:
            levels = [lv for lv in args.levels.split(",") if lv]
            print(f"\nartist-grouped {args.folds}-fold cross-validation on {len(files)} clips "
                  f"({len(set(artists))} artists):")
            t0 = time.perf_counter()
            cv = cross_validate(specs, table, table_rows, ann, artists, levels=levels,
                                folds=args.folds, epochs=args.epochs, patience=args.patience,
                                seed=args.seed)
            summary = summarise(cv)
            with pd.option_context("display.width", 120, "display.precision", 3):
                print(summary.to_string(index=False))
            print(f"cross-validation took {time.perf_counter() - t0:.0f} s [{_load()}]")
            result["cv"] = cv.to_dict(orient="records")
            result["summary"] = summary.to_dict(orient="records")
        if args.json:
            args.json.write_text(json.dumps(result, indent=1, default=float))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
