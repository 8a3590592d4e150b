"""The ``run`` subcommand: the whole pipeline (prepare, features, train every model,
evaluate, write results.csv), reusing what is up to date.
"""

from __future__ import annotations

import time
from pathlib import Path

from .data_commands import _features, _prepare
from .model_commands import _groups, _spectrogram_options
from .output import _log
from .parser import KINDS

# The library (data, features, models) is imported inside the commands, not here, so that
# `bag-of-songs --help` and `import bag_of_songs.cli` stay fast and never import torch.


def _default_run_dir(source: str) -> Path:
    if source == "ccmusic":
        return Path("ccmusic")
    return Path("runs") / (Path(source).name or "source").replace(":", "_")


def _cmd_run(args) -> int:
    from ..data import label_columns, list_splits, read_annotations, write_csv_atomic

    kinds = tuple(k for k in args.models.split(",") if k)
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise ValueError(f"unknown model(s) {bad}; choose from {KINDS}")
    out = Path(args.out) if args.out else _default_run_dir(args.source)
    t0 = time.monotonic()
    _log(f"== 1/3 prepare {args.source} -> {out}")
    _log(_prepare(args, out).summary())
    missing = [s for s in ("train", "test") if s not in list_splits(out)]
    if missing:
        raise ValueError(
            f"{out}: no {' and no '.join(missing)} split after preparing {args.source!r}: "
            "--splits names none, or the source has too few clips for every split to get one "
            "(use --splits with train and test shares, more clips, or a larger --demo-size)")
    if args.level:
        present = label_columns(read_annotations(out / "train"))
        unknown = [c for c in args.level if c not in present]
        if unknown:
            raise ValueError(f"no label column(s) {unknown} in {out}; present: {present}")
    _log(f"== 2/3 features ({time.monotonic() - t0:.0f} s so far)")
    _features(args, out)
    _log(f"== 3/3 train and evaluate ({time.monotonic() - t0:.0f} s so far)")
    from ..models import compare_models

    groups = _groups(args, out)
    results = compare_models(out, levels=args.level, kinds=kinds, split="test", seed=args.seed,
                             models_dir=out / "models", n_jobs=args.n_jobs,
                             selection=args.selection, groups=groups,
                             spectrogram_options=_spectrogram_options(args), force=args.force,
                             progress=not args.quiet)
    write_csv_atomic(results, out / "results.csv")
    shown = results.drop(columns=["selection", "split_rule"])
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"\nsplits: {results['split_rule'].iloc[0]}; hyper-parameters: "
          f"{results['selection'].iloc[0]}")
    print("scores are per clip (a segment model averages its segments' probabilities); "
          "rows with derived_from score a coarse level through the finest level's model; "
          "f1 is the F1 of the second class for two classes, else the macro F1")
    print(f"results: {out / 'results.csv'}; models: {out / 'models'} "
          f"({time.monotonic() - t0:.0f} s in all)")
    if args.source == "demo":
        print("(the demo corpus is synthetic: these scores say nothing about real music)")
    return 0

