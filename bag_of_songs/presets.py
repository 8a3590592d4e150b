"""Named settings you can ask for by one word: ``--preset best`` (one home for them).

``study`` is the study's setting, the default everywhere (the notebooks of the study keep it).
``best`` is the best setting measured on real music (``benchmarks/bench_accuracy.py``, the
README's results): the penultimate layers of both pretrained musicnn models side by side
(MSD_musicnn, trained on the Million Song Dataset's Last.fm tags, and MTT_musicnn, on
MagnaTagATune), pooled over the clip's 3 s patches by their mean and standard deviation
(800 columns), and strongly regularised linear heads (logistic regression with C down to 1e-4,
shrinkage LDA, a linear SVC), among which the usual selection chooses. It costs the two
networks' forward passes: about twice the musicnn embedding alone per clip.

A leaf: it imports nothing of the package.
"""

from __future__ import annotations

#: Preset name -> command-line option (argparse ``dest``) -> value. ``features`` uses the
#: feature options; ``run`` also ``models``.
PRESETS: dict[str, dict[str, str]] = {
    "study": {},
    "best": {
        "feature_set": "musicnn",
        "musicnn_model": "MSD_musicnn,MTT_musicnn",
        "musicnn_layer": "penultimate",
        "stats": "mean,std",
        "models": "logreg,lda,linsvc",
    },
}


def apply_preset(args, defaults: dict) -> list[str]:
    """Fill the options a preset names that were left at their defaults; return their names.

    Parameters
    ----------
    args : argparse.Namespace
        With ``preset`` (a key of :data:`PRESETS`, or None).
    defaults : dict
        The parser's default of every option (``dest -> default``).

    Returns
    -------
    filled : list of str
        The options set from the preset (an option given on the command line wins).

    Examples
    --------
    >>> from argparse import Namespace
    >>> args = Namespace(preset="best", stats="mean", feature_set="seed", musicnn_model=None,
    ...                  musicnn_layer=None)
    >>> apply_preset(args, {"stats": "mean", "feature_set": "seed", "musicnn_model": None,
    ...                     "musicnn_layer": None})
    ['feature_set', 'musicnn_model', 'musicnn_layer', 'stats']
    >>> args.feature_set, args.stats
    ('musicnn', 'mean,std')
    """
    filled = []
    for dest, value in PRESETS.get(getattr(args, "preset", None) or "study", {}).items():
        if hasattr(args, dest) and getattr(args, dest) == defaults.get(dest):
            setattr(args, dest, value)
            filled.append(dest)
    return filled
