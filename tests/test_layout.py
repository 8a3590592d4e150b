"""The shape of the package: every import the notebooks make works, the house stays in order
(no module over 800 lines, no function body over 100, no import cycle), leaves stay leaves."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import nbformat
import pytest
from conftest import ROOT, SHARED, require

PACKAGE = ROOT / "bag_of_songs"


def _notebook_imports() -> list[str]:
    found = []
    for nb_path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(nb_path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:  # IPython magics
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                        "bag_of_songs"):
                    found.append(ast.unparse(node))
                elif isinstance(node, ast.Import) and any(
                        a.name.startswith("bag_of_songs") for a in node.names):
                    found.append(ast.unparse(node))
    return sorted(set(found))


def test_every_notebook_import_still_works():
    lines = _notebook_imports()
    assert len(lines) > 10
    code = "\n".join(lines)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


def test_the_house_is_in_order():
    tool = require(SHARED / "tools" / "house.py")
    out = json.loads(subprocess.run([sys.executable, str(tool), str(ROOT), "--json"],
                                    capture_output=True, text=True, check=True,
                                    timeout=120).stdout)
    assert out["cycles"] == []
    assert out["largest_module"][0] <= 800, out["largest_module"]
    assert out["longest_function_body"][0] <= 100, out["longest_function_body"]


@pytest.mark.parametrize("leaf", ["_constants.py", "errors.py", "_version.py", "_logging.py",
                                  "_librosa.py"])
def test_leaves_import_nothing_of_the_package(leaf):
    tree = ast.parse((PACKAGE / leaf).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0 and not (node.module or "").startswith("bag_of_songs"), leaf


def test_one_error_base_class():
    import bag_of_songs
    from bag_of_songs import errors

    classes = [getattr(errors, n) for n in errors.__all__]
    assert all(issubclass(c, errors.BagOfSongsError) for c in classes)
    # Every error class defined anywhere in the package is one of them.
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.name.endswith("Error") \
                    and path.name != "errors.py":
                bases = {ast.unparse(b).rpartition(".")[2] for b in node.bases}
                assert bases & (set(errors.__all__) | {"_MetaError"}), (path, node.name)
    assert bag_of_songs.FeatureError is errors.FeatureError


def test_the_readme_layout_names_every_file():
    """The README's Layout section shows the tree with one line per file of the package."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if path.name == "__init__.py" and rel.parent != rel.parent.parent:
            continue  # a subpackage's __init__ is its folder's line
        if f" {path.name} " not in section and f"{path.name} " not in section:
            missing.append(str(rel))
    for folder in sorted(p for p in PACKAGE.rglob("*") if p.is_dir() and p.name != "__pycache__"):
        if f"{folder.name}/" not in section:
            missing.append(f"{folder.relative_to(PACKAGE)}/")
    assert not missing, f"not in the README's Layout section: {missing}"


def test_no_file_of_the_package_is_ignored_by_git():
    """A pattern such as ``models/`` (meant for trained models) must not hide a subpackage."""
    files = [str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py")]
    proc = subprocess.run(["git", "check-ignore", *files], cwd=ROOT, capture_output=True,
                          text=True)
    if proc.returncode == 128:
        pytest.skip(f"not a git checkout: {proc.stderr.strip()}")
    assert proc.stdout.strip() == "", f"ignored by .gitignore: {proc.stdout.split()}"
