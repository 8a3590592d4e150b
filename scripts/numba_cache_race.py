"""Reproduce the numba cache race (numba issue 10128) that load_librosa guards against.

Each round starts from an empty numba cache (a fresh ``NUMBA_CACHE_DIR``): three processes
import librosa and estimate a tuning at once (filling the cache together, as the workers of a
fresh install do), then a fourth reads the cache they wrote. With a plain ``import librosa``
the reader sometimes crashes with a segmentation fault; through
:func:`bag_of_songs._librosa.load_librosa` it should never. Prints the crash counts.

Run: ``python scripts/numba_cache_race.py --rounds 12`` (about 30 s a round on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

_WORKER = """
import sys
import numpy as np
if sys.argv[1] == "plain":
    import librosa
else:
    from bag_of_songs._librosa import load_librosa
    librosa = load_librosa()
S = np.random.default_rng(0).random((1025, 200)) ** 2
librosa.estimate_tuning(S=S, sr=22050, n_fft=2048)
"""


def _round(mode: str, writers: int) -> list[int]:
    """The return codes of the writers and of the reader after them (negative: a signal)."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        cmd = [sys.executable, "-c", _WORKER, mode]
        procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for _ in range(writers)]
        codes = [p.wait() for p in procs]
        codes.append(subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL).returncode)
    return codes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--writers", type=int, default=3)
    args = parser.parse_args()
    for mode in ("plain", "locked"):
        crashed = sum(any(c != 0 for c in _round(mode, args.writers))
                      for _ in range(args.rounds))
        print(f"{mode:6}: {crashed} of {args.rounds} rounds had a process crash", flush=True)


if __name__ == "__main__":
    main()
