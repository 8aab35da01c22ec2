"""pyproject.toml: the declared dependency floors hold, and the wheel carries the sample with its license."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DEPENDENCIES = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]

#: The libraries whose APIs mrlkit is written against, version for version.
CORE = ("sentence-transformers", "transformers")
#: Modules and names mrlkit imports whose presence depends on the version of its dependencies.
RELIED_ON = {
    "transformers.masking_utils": ["AttentionMaskInterface", "ALL_MASK_ATTENTION_FUNCTIONS"],
    "transformers.integrations.sdpa_attention": ["sdpa_attention_forward"],
    "transformers": ["AttentionInterface", "TrainerCallback"],
    "sentence_transformers.sentence_transformer.modules": ["Dense", "Normalize", "Pooling", "Transformer"],
    "sentence_transformers.sentence_transformer.losses": [
        "MatryoshkaLoss",
        "CachedMultipleNegativesRankingLoss",
    ],
    "sentence_transformers.base.sampler": ["BatchSamplers", "NoDuplicatesBatchSampler"],
    "sentence_transformers.base.modules.input_module": ["InputModule"],
}


def _floor(req: Requirement) -> Version | None:
    floors = [Version(s.version) for s in req.specifier if s.operator in (">=", "==", "~=")]
    return max(floors) if floors else None


@pytest.mark.parametrize("req", DEPENDENCIES, ids=lambda r: r.name)
def test_installed_versions_satisfy_the_declared_ranges(req):
    installed = Version(metadata.version(req.name))
    assert req.specifier.contains(installed, prereleases=True), (
        f"{req.name} {installed} not in {req.specifier}"
    )


def test_floors_are_not_below_what_the_core_libraries_demand():
    """A floor lower than one the pinned core libraries require is a floor that was never tested.

    E.g. ``transformers>=4.41`` beside ``sentence-transformers>=6.0``, whose every release requires
    transformers >= 5. Only the core libraries are checked: their floors pin the installed major version
    (next test), so what the installed release requires, the oldest allowed one requires too.
    """
    ours = {r.name.lower(): r for r in DEPENDENCIES}
    wrong = []
    for core in CORE:
        for line in metadata.requires(core) or []:
            theirs = Requirement(line)
            if theirs.marker is not None and not theirs.marker.evaluate({"extra": ""}):
                continue
            mine = ours.get(theirs.name.lower())
            if mine is None or _floor(theirs) is None:
                continue
            if _floor(mine) is None or _floor(mine) < _floor(theirs):
                wrong.append(f"{mine} but {core} needs {theirs}")
    assert not wrong, wrong


def test_the_floors_of_the_core_libraries_name_the_installed_major_version():
    """mrlkit is written against sentence-transformers 6 and transformers 5 APIs: the floors must say so."""
    for name in CORE:
        req = next(r for r in DEPENDENCIES if r.name == name)
        assert _floor(req).major == Version(metadata.version(name)).major, req


@pytest.mark.parametrize("module", sorted(RELIED_ON))
def test_modules_the_code_relies_on_exist(module):
    loaded = importlib.import_module(module)
    missing = [n for n in RELIED_ON[module] if not hasattr(loaded, n)]
    assert not missing, f"{module} lacks {missing}"


def test_no_extra_without_code_that_uses_it():
    """Each extra (dev and docs aside) is one the code asks for: ``require(module, extra, ...)`` or
    an install hint ``mrlkit[extra]``; an extra for a feature that has not landed is a false promise."""
    extras = PYPROJECT["project"]["optional-dependencies"]
    code = "\n".join(path.read_text() for path in (ROOT / "src" / "mrlkit").rglob("*.py"))
    for extra in set(extras) - {"dev", "docs"}:
        named = re.search(rf'require\(\s*"[\w.]+",\s*"{extra}"', code) or f"mrlkit[{extra}]" in code
        assert named, f"extra {extra!r}: no code requires it"
    assert "mrlkit[search]" in extras["dev"]
    assert not any(r.startswith("optimum") for r in extras.get("onnx", []))  # mrlkit.export does not use it


@pytest.mark.slow
def test_wheel_ships_the_sample_with_its_license_and_the_notice(tmp_path):
    for name in ("pyproject.toml", "README.md", "LICENSE", "NOTICE"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(
        ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__")
    )
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", "dist", "."]
    subprocess.run(cmd, cwd=tmp_path, check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("mrlkit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    sample = "mrlkit/samples/scifact-mini/"
    for name in ("LICENSE.md", "SOURCE.md", "corpus.jsonl", "queries.jsonl", "qrels/test.tsv"):
        assert sample + name in names, name
    licenses = {n.rsplit("/", 1)[-1] for n in names if ".dist-info/licenses/" in n}
    assert licenses == {"LICENSE", "NOTICE"}
    assert "CC BY-NC 2.0" in zipfile.ZipFile(wheel).read(sample + "LICENSE.md").decode()


def test_sample_license_and_notice_agree_with_the_sample_source():
    sample = ROOT / "src" / "mrlkit" / "samples" / "scifact-mini"
    for text in (
        (sample / "SOURCE.md").read_text(),
        (sample / "LICENSE.md").read_text(),
        (ROOT / "NOTICE").read_text(),
    ):
        assert "CC BY-NC 2.0" in text and "creativecommons.org/licenses/by-nc/2.0" in text
