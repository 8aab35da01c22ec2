"""The docs and the benchmark results cite what exists: API pages, results files, the explore index."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import mrlkit

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CITED = re.compile(r"results/((?:explore/)?\w+\.jsonl?)\b")


def _documented_targets() -> list[str]:
    """The ``module.Name`` of every ``::: module.Name`` line in docs/api.md."""
    return re.findall(r"^::: ([\w.]+)$", (ROOT / "docs" / "api.md").read_text(), flags=re.M)


@pytest.mark.parametrize("name", mrlkit.__all__)
def test_every_public_name_is_in_the_api_reference(name: str) -> None:
    # mrlkit.<name> is imported from _EXPORTS[name]; the page documents it there or in a submodule
    # (mkdocs build --strict then checks that the path resolves)
    package = mrlkit._EXPORTS[name]
    assert any(t.endswith(f".{name}") and t.startswith(package + ".") for t in _documented_targets()), (
        f"mrlkit.{name} has no '::: {package}[.submodule].{name}' entry in docs/api.md"
    )


def _cited_paths() -> list[tuple[str, str]]:
    pages = [ROOT / "README.md", ROOT / "benchmarks" / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [(page.name, path) for page in pages for path in CITED.findall(page.read_text())]


def test_cited_results_files_exist() -> None:
    cited = _cited_paths()
    assert len(cited) > 20  # the regex still finds the citations
    missing = sorted({f"{page}: results/{path}" for page, path in cited if not (RESULTS / path).is_file()})
    assert not missing, f"cited but not in benchmarks/results/: {missing}"


def test_explore_index_lists_every_file() -> None:
    index = (RESULTS / "explore" / "INDEX.md").read_text()
    listed = set(re.findall(r"^\| `(\w+\.json)` \|", index, flags=re.M))
    present = {path.name for path in (RESULTS / "explore").glob("*.json")}
    assert present, "benchmarks/results/explore/ holds no results file"
    assert listed == present, (
        f"INDEX.md lists {sorted(listed - present)} not there, misses {sorted(present - listed)}"
    )


def test_readme_links_and_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    links = [t for t in re.findall(r"\]\(([^)#]+)\)", readme) if "://" not in t]
    assert len(links) > 5
    missing = [t for t in links if not (ROOT / t).exists()]
    assert not missing, f"README.md links to files that do not exist: {missing}"
    # CI and the "fresh machine" check run these two commands as written
    assert 'pip install torch==2.13.0 && pip install -e ".[search]" && mrlkit quickstart' in readme
    assert 'pip install -e ".[dev]" && python -m pytest -q' in readme
