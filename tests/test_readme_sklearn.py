"""The README's "Use it from scikit-learn" snippet runs as written on the real dev clips, and
its features are the feature table's, so it scores as the command line's tables do."""

import os
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _snippet() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Use it from scikit-learn", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow
def test_the_readme_snippet_runs_on_the_dev_clips(emotify_dir, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)  # the snippet names ../shared/data/emotify-dev from the checkout
    if not (ROOT / "../shared/data/emotify-dev").resolve() == Path(emotify_dir).resolve():
        pytest.skip("the dev clips are not at ../shared/data/emotify-dev beside this checkout")
    code = _snippet().replace("FeatureExtractor(n_jobs=-1)",
                              f"FeatureExtractor(n_jobs={min(2, os.cpu_count() or 1)})")
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    out = capsys.readouterr().out
    assert re.fullmatch(r"macro F1 \d\.\d\d \+- \d\.\d\d\n", out), out
    scores = scope["scores"]
    assert len(scores) == 5 and scores.mean() > 0.5  # four genres: chance is 0.25

    # FeatureExtractor learns nothing: extracting once, outside the folds, gives the same
    # scores fold for fold (and its rows are the feature table's: tests/test_feature_extractor.py).
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from bag_of_songs import FeatureExtractor

    clips = scope["clips"]
    X = FeatureExtractor(n_jobs=2).fit_transform(scope["paths"])
    again = cross_val_score(make_pipeline(StandardScaler(), SVC()), X, clips["genre"],
                            groups=clips["artist"], cv=StratifiedGroupKFold(5),
                            scoring="f1_macro")
    np.testing.assert_array_equal(scores, again)


def test_the_snippet_names_what_the_package_exports():
    code = _snippet()
    import bag_of_songs

    for name in re.findall(r"from bag_of_songs import (\w+)", code):
        assert hasattr(bag_of_songs, name), name
