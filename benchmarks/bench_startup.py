"""Benchmark of start-up: what a fresh process pays before and while it extracts one clip.

Run from the repository root::

    python benchmarks/bench_startup.py [--repeat 7] [--clip PATH]

Each way runs in a fresh ``python`` process, ``--repeat`` times, the ways interleaved so a
busy spell hits all of them alike; the script prints the median and range of the wall time of
each and its ratio to the reference measured in the same run:

- **reference**: ``import numpy, scipy.fft, pandas, soundfile`` (what any tool that reads audio
  into a table pays);
- **extract one clip**: ``from bag_of_songs import extract_features, load_audio``, decode one
  prepared 22,050 Hz WAV and compute the study's 32 features (the target is at most 1.5x the
  reference);
- **import bag_of_songs**, **bag-of-songs --version** and **bag-of-songs --help**: the command
  line before any work;
- which heavy modules (torch, numba, librosa, sklearn, datasets, matplotlib) each way
  imported, so a regression names its cause.

``--clip`` is a WAV to extract; by default a demo clip synthesised into a temporary folder
(so the script needs nothing beside the repository). Run it on an idle machine: a busy one
stretches every figure, not only the package's.

This is a script, not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ("torch", "numba", "librosa", "sklearn", "datasets", "matplotlib")

_REPORT = (
    "import sys, json; "
    f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
)


def _ways(clip: Path) -> dict[str, list[str]]:
    py = sys.executable
    extract = ("from bag_of_songs import extract_features, load_audio; "
               f"y = load_audio({str(clip)!r}); f = extract_features(y); "
               "assert len(f) == 32; ")
    return {
        "reference": [py, "-c", "import numpy, scipy.fft, pandas, soundfile; " + _REPORT],
        "extract one clip": [py, "-c", extract + _REPORT],
        "import bag_of_songs": [py, "-c", "import bag_of_songs; " + _REPORT],
        "bag-of-songs --version": [py, "-m", "bag_of_songs", "--version"],
        "bag-of-songs --help": [py, "-m", "bag_of_songs", "--help"],
    }


def _time(cmd: list[str]) -> tuple[float, str]:
    t = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - t, out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--clip", type=Path, default=None)
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        clip = args.clip
        if clip is None:
            import soundfile as sf

            from bag_of_songs.demo import synthesize_demo_clip

            clip = Path(tmp) / "demo.wav"
            sf.write(clip, synthesize_demo_clip("rock", 0), 22050, subtype="FLOAT")
        ways = _ways(clip)
        for cmd in ways.values():  # warm-up: bytecode caches, the OS's file cache
            _time(cmd)
        times: dict[str, list[float]] = {name: [] for name in ways}
        heavy: dict[str, str] = {}
        for _ in range(args.repeat):
            for name, cmd in ways.items():
                dt, out = _time(cmd)
                times[name].append(dt)
                last = out.strip().splitlines()[-1] if out.strip() else ""
                if last.startswith("["):
                    heavy[name] = ", ".join(json.loads(last)) or "none"

    ref = statistics.median(times["reference"])
    print(f"{'way':<26}{'median s':>10}{'range s':>16}{'x reference':>13}  heavy modules")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<26}{med:>10.2f}{min(ts):>8.2f}-{max(ts):<7.2f}{med / ref:>13.2f}  "
              f"{heavy.get(name, '')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
