"""torch's thread count while a network runs: one by default, the caller's setting restored."""

import numpy as np
import pytest
import torch

from bag_of_songs import musicnn
from bag_of_songs._threads import torch_threads
from bag_of_songs.embeddings.musicnn import embed


def test_torch_threads_sets_and_restores():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError):
            with torch_threads(bad):
                pass


@pytest.mark.parametrize("n_threads, expected", [(1, 1), (None, 2)])
def test_musicnn_runs_on_one_thread_by_default(monkeypatch, n_threads, expected):
    seen = []

    def network(x):
        seen.append(torch.get_num_threads())
        return {"penultimate": torch.zeros((x.shape[0], musicnn.LAYER_SIZES["penultimate"]))}

    monkeypatch.setattr(embed, "_cached_network", lambda *a: network)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        patches = np.zeros((2, musicnn.N_FRAMES, musicnn.N_MELS), dtype=np.float32)
        kwargs = {} if n_threads == 1 else {"n_threads": n_threads}
        out = musicnn.embed_patches(patches, layers=["penultimate"], **kwargs)
        assert out["penultimate"].shape == (2, 200)
        assert seen == [expected, expected] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
