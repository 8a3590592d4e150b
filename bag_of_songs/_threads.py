"""One home for torch's CPU thread count while a network runs (musicnn, the CNN).

Why one thread by default: on a 2-core machine with other work running, OpenMP's spin-waiting
makes two intra-op threads several times slower than one for these small networks, and one
thread is never much slower on an idle machine (``benchmarks/bench_musicnn.py`` measures both).
torch is imported only when a block actually runs with a thread count to set.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run a block with ``n`` torch CPU threads, then restore the caller's setting.

    Parameters
    ----------
    n : int >= 1 or None
        None leaves torch's setting as it is (``torch.set_num_threads`` or
        ``OMP_NUM_THREADS``).

    Raises
    ------
    ValueError
        When ``n`` is not a positive integer or None.

    Examples
    --------
    >>> import torch
    >>> before = torch.get_num_threads()
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    if n is None:
        yield
        return
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"n_threads must be a positive integer or None, got {n!r}")
    import torch

    before = torch.get_num_threads()
    if before != n:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
