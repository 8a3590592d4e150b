"""The numpy filterbanks equal librosa's bit for bit (so feature tables stay byte-identical)."""

import librosa
import numpy as np
import pytest

from bag_of_songs import filters


@pytest.mark.parametrize("sr, n_fft, n_mels", [(22050, 2048, 128), (16000, 512, 96),
                                               (44100, 4096, 40), (8000, 256, 20),
                                               (22050, 2048, 13)])
def test_mel_equals_librosa(sr, n_fft, n_mels):
    ours = filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)
    theirs = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)
    assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs)


@pytest.mark.parametrize("sr, n_fft", [(22050, 2048), (16000, 512), (44100, 4096), (8000, 256)])
@pytest.mark.parametrize("tuning", [0.0, -0.31, 0.49])
def test_chroma_equals_librosa(sr, n_fft, tuning):
    ours = filters.chroma(sr=sr, n_fft=n_fft, tuning=tuning)
    theirs = librosa.filters.chroma(sr=sr, n_fft=n_fft, tuning=tuning, n_chroma=12)
    assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs)


def test_mel_scale_round_trip_and_known_points():
    assert float(filters.hz_to_mel(1000.0)) == pytest.approx(15.0, rel=1e-12)
    hz = np.array([0.0, 500.0, 1000.0, 4000.0, 11025.0])
    np.testing.assert_allclose(filters.mel_to_hz(filters.hz_to_mel(hz)), hz, rtol=1e-12)
    np.testing.assert_array_equal(filters.hz_to_mel(hz), librosa.hz_to_mel(hz))


def test_filterbanks_are_read_only_cached():
    M = filters.mel(sr=22050, n_fft=2048, n_mels=128)
    assert M is filters.mel(sr=22050, n_fft=2048, n_mels=128)
    with pytest.raises(ValueError):
        M[0, 0] = 1.0
