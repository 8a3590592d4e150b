"""musicnn's constants: the models, layers, front-end parameters and tags; input checks.

As musicnn's own ``configuration.py``: one home for the numbers every other module of the
package (and the feature tables) reads. Imports nothing heavy, so ``bag_of_songs.features`` can
read :data:`MODELS` and :data:`LAYER_SIZES` without torch. :class:`MusicnnError` is the one of
:mod:`bag_of_songs.errors`.
"""

from __future__ import annotations

from collections.abc import Iterable

from ...errors import MusicnnError

__all__ = [
    "MusicnnError",
    "MODELS",
    "LAYERS",
    "LAYER_SIZES",
    "SR",
    "N_FFT",
    "HOP_LENGTH",
    "N_MELS",
    "N_FRAMES",
    "PIP_COMMAND",
    "musicnn_tags",
    "check_model",
    "check_models",
    "check_layers",
]

#: The two musicnn models ported (the VGG baselines of the wheel are not).
MODELS = ("MSD_musicnn", "MTT_musicnn")
#: Layers :func:`~bag_of_songs.embeddings.musicnn.embed_patches` returns.
LAYERS = ("mean_pool", "max_pool", "penultimate", "logits", "taggram")
#: Width of each layer (the same for both models).
LAYER_SIZES = {"mean_pool": 753, "max_pool": 753, "penultimate": 200, "logits": 50,
               "taggram": 50}
#: Sampling rate of the network's input, in Hz.
SR = 16000
#: FFT size of the mel spectrogram, in samples.
N_FFT = 512
#: Hop between frames, in samples.
HOP_LENGTH = 256
#: Mel bands.
N_MELS = 96
#: Frames per patch (3 s, as the models were trained).
N_FRAMES = 187
#: The command that installs the checkpoint files (and nothing else).
PIP_COMMAND = "pip install --no-deps musicnn==0.1.0"

_TAGS = {
    "MSD_musicnn": (
        "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
        "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists",
        "classic rock", "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s",
        "chill", "instrumental", "punk", "oldies", "blues", "hard rock", "ambient", "acoustic",
        "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country",
        "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal",
        "Progressive rock", "60s", "rnb", "indie pop", "sad", "House", "happy",
    ),
    "MTT_musicnn": (
        "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock",
        "fast", "piano", "ambient", "beat", "violin", "vocal", "synth", "female", "indian",
        "opera", "male", "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet",
        "flute", "woman", "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man",
        "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal", "beats",
        "harp", "cello", "no voice", "weird", "country", "metal", "female voice", "choral",
    ),
}


def check_model(model: str) -> str:
    """``model`` if it is one of :data:`MODELS`, else a :class:`MusicnnError` naming them."""
    if model not in MODELS:
        raise MusicnnError(f"unknown musicnn model {model!r}; choose from {MODELS}")
    return model


def check_models(models: str | Iterable[str]) -> tuple[str, ...]:
    """One model or several, as a tuple of distinct names of :data:`MODELS` in the order given.

    Parameters
    ----------
    models : str or iterable of str
        A model (``"MSD_musicnn"``), several joined by commas (``"MSD_musicnn,MTT_musicnn"``)
        or a list of names.

    Returns
    -------
    models : tuple of str

    Raises
    ------
    MusicnnError
        When a model is unknown or named twice, or none is given.

    Examples
    --------
    >>> check_models("MSD_musicnn,MTT_musicnn")
    ('MSD_musicnn', 'MTT_musicnn')
    """
    if isinstance(models, str):
        models = [m.strip() for m in models.split(",")]
    try:
        models = tuple(models)
    except TypeError:
        models = (models,)
    unknown = [m for m in models if not isinstance(m, str) or m not in MODELS]
    if unknown or not models:
        raise MusicnnError(f"unknown musicnn model(s) {unknown or '(none given)'}; choose from "
                           f"{MODELS} (several as a list, or joined by commas)")
    if len(set(models)) != len(models):
        raise MusicnnError(f"musicnn models {list(models)} name one twice (its columns would "
                           "be repeated)")
    return models


def check_layers(layers: Iterable[str]) -> tuple[str, ...]:
    """The layers as a tuple (one name counts as one layer), all of :data:`LAYERS`, not empty.

    Raises
    ------
    MusicnnError
        When a layer is unknown or none is given.
    """
    if isinstance(layers, str):
        layers = (layers,)
    layers = tuple(layers)
    unknown = [la for la in layers if la not in LAYERS]
    if unknown or not layers:
        raise MusicnnError(f"unknown musicnn layer(s) {unknown or '(none given)'}; choose from "
                           f"{LAYERS}")
    return layers


def musicnn_tags(model: str = "MSD_musicnn") -> list[str]:
    """The 50 tag names of a model, in the order of its ``taggram`` / ``logits`` columns.

    Explained in ``notebooks/5-pretrained-embeddings.ipynb``.

    Parameters
    ----------
    model : {"MSD_musicnn", "MTT_musicnn"}

    Returns
    -------
    tags : list of str [len=50]

    Raises
    ------
    MusicnnError
        When ``model`` is not one of :data:`MODELS`.

    Examples
    --------
    >>> musicnn_tags("MSD_musicnn")[:3]
    ['rock', 'pop', 'alternative']
    >>> musicnn_tags("MTT_musicnn")[:3]
    ['guitar', 'classical', 'slow']
    """
    return list(_TAGS[check_model(model)])
