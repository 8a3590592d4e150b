"""Write the README figures to ``img/`` by running the notebooks on the demo corpus.

Usage, with the project's environment (``pip install -e ".[dev]"``) active::

    python scripts/make_figures.py                    # PNGs into <repo>/img/
    python scripts/make_figures.py --img-dir /tmp/img --executed-dir /tmp/notebooks

The notebooks run top to bottom with ``BAG_OF_SONGS_SOURCE=demo`` and
``BAG_OF_SONGS_SAVE_FIGURES=1``; each figure cell saves its PNG through
``bag_of_songs.plot.save_figure``. The committed notebooks are executed in memory and never
written back (``--executed-dir`` saves executed copies elsewhere), and the demo corpus is
prepared in a temporary folder that is deleted afterwards (``--data-dir`` keeps it).

The figures come from the **synthetic** demo corpus: they illustrate the method, and their
scores say nothing about real music.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Every notebook of the series, in order (notebook 1 prepares what the others read).
NOTEBOOKS = tuple(sorted(p.name for p in (ROOT / "notebooks").glob("[0-9]-*.ipynb")))
KERNEL_NAME = "bag-of-songs-figures"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--img-dir", type=Path, default=ROOT / "img",
                        help="where the PNGs go (default: the repository's img/)")
    parser.add_argument("--demo-size", type=int, default=20,
                        help="demo clips per style (4 styles; default 20)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="prepare the demo corpus here and keep it (default: a temporary "
                             "folder, deleted afterwards)")
    parser.add_argument("--executed-dir", type=Path, default=None,
                        help="also save the executed notebooks here")
    parser.add_argument("--n-jobs", type=int, default=-1, help="worker processes (-1: all)")
    parser.add_argument("--epochs", type=int, default=10,
                        help="notebook 4: at most this many CNN/hybrid epochs (default 10)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)

    import nbformat
    from nbclient import NotebookClient

    with tempfile.TemporaryDirectory(prefix="bag-of-songs-figures-") as tmp:
        tmp = Path(tmp)
        # A kernel spec for this interpreter, found first through JUPYTER_PATH.
        spec = tmp / "jupyter" / "kernels" / KERNEL_NAME
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Bag of Songs (figures)", "language": "python"}))
        data_dir = (args.data_dir or tmp / "data").resolve()
        img_dir = args.img_dir.resolve()
        # The kernels inherit this environment: it sets the notebooks' parameters (and only
        # these: a BAG_OF_SONGS_* variable of the caller's shell would change the figures).
        for var in [v for v in os.environ if v.startswith("BAG_OF_SONGS_")]:
            del os.environ[var]
        os.environ.update({
            "JUPYTER_PATH": str(tmp / "jupyter"),
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "BAG_OF_SONGS_SOURCE": "demo",
            "BAG_OF_SONGS_DEMO_SIZE": str(args.demo_size),
            "BAG_OF_SONGS_DATA_DIR": str(data_dir),
            "BAG_OF_SONGS_IMG_DIR": str(img_dir),
            "BAG_OF_SONGS_SAVE_FIGURES": "1",
            "BAG_OF_SONGS_N_JOBS": str(args.n_jobs),
            "BAG_OF_SONGS_EPOCHS": str(args.epochs),
        })
        before = {p.name: p.stat().st_mtime for p in img_dir.glob("*.png")}
        start = time.monotonic()
        for name in NOTEBOOKS:
            nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
            print(f"running {name} ...", file=sys.stderr, flush=True)
            NotebookClient(nb, timeout=args.timeout, kernel_name=KERNEL_NAME,
                           resources={"metadata": {"path": str(tmp)}}).execute()
            if args.executed_dir is not None:
                args.executed_dir.mkdir(parents=True, exist_ok=True)
                nbformat.write(nb, args.executed_dir / name)
        written = sorted(p for p in img_dir.glob("*.png")
                         if before.get(p.name) != p.stat().st_mtime)
    print(f"{len(written)} figures written to {img_dir} in {time.monotonic() - start:.0f} s "
          "(synthetic demo corpus):")
    for p in written:
        print(f"  {p.name}  {p.stat().st_size / 1024:.0f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
