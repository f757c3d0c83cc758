"""The documentation hangs together: links lead somewhere, the index lists every page, every block says what it is."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.docs.conftest import DOC_PAGES
from tests.docs.markdown import anchors, blocks, commands, documented_outputs, links
from tests.docs.runner import SKIPPED

DOCS = REPO_ROOT / "docs"
# what a block may be: commands run by the doc test (sh), files and examples, and plain text (output, layouts)
LANGUAGES = {"sh", "text", "yaml", "sql", "json", "csv", "ini", "python", "promql"}


@pytest.mark.parametrize("page", DOC_PAGES, ids=[str(page.relative_to(REPO_ROOT)) for page in DOC_PAGES])
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(page: Path) -> None:
    broken = []
    for line, target in links(page):
        if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        destination = (page.parent / file_part).resolve() if file_part else page
        if not destination.exists():
            broken.append(f"{page.name}:{line}: {target} (no such file)")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{page.name}:{line}: {target} (no heading with that anchor in {destination.name})")
    assert not broken, "\n".join(broken)


def test_the_index_lists_every_page_and_the_readme_links_the_guides() -> None:
    index = {target.partition("#")[0] for _, target in links(DOCS / "README.md")}
    missing = [page.name for page in sorted(DOCS.glob("*.md")) if page.name != "README.md" and page.name not in index]
    assert not missing, f"docs/README.md does not list: {missing}"
    readme = {target.partition("#")[0] for _, target in links(REPO_ROOT / "README.md")}
    for guide in ("docs/README.md", "docs/tutorial.md", "docs/operations.md", "docs/development.md",
                  "docs/configuration.md", "docs/cli.md"):
        assert guide in readme, f"README.md does not link {guide}"


@pytest.mark.parametrize("page", DOC_PAGES, ids=[str(page.relative_to(REPO_ROOT)) for page in DOC_PAGES])
def test_every_code_block_says_what_it_holds(page: Path) -> None:
    unnamed = [f"{page.name}:{block.line}: ```{block.language}" for block in blocks(page)
               if block.language not in LANGUAGES]
    assert not unnamed, "blocks need a language (sh is run by the doc test; text for output):\n" + "\n".join(unnamed)


def test_every_skipped_command_is_still_in_the_docs_and_says_why() -> None:
    documented = [command for page in DOC_PAGES for block in blocks(page) if block.language == "sh"
                  for command in commands(block)]
    for entry in SKIPPED:
        assert len(entry.reason) > 20, entry
        assert any(entry.matches(command) for command in documented), f"stale entry in SKIPPED: {entry}"


@pytest.mark.parametrize("page", DOC_PAGES, ids=[str(page.relative_to(REPO_ROOT)) for page in DOC_PAGES])
def test_every_output_block_shows_a_command_the_doc_test_runs(page: Path) -> None:
    """An output block follows the sh block of its command (else the doc test could not compare it),
    and that command is one the doc test runs."""
    try:
        pairs = documented_outputs(blocks(page))
    except ValueError as error:
        pytest.fail(str(error))
    skipped = [f"{page.name}:{block.line}: shows `{command.text}`, which the doc test skips"
               for block, command in pairs if any(entry.matches(command) for entry in SKIPPED)]
    assert not skipped, "\n".join(skipped)
