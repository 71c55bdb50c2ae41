"""docs/results.md and docs/speed.md state current results (goals and history are in
CHANGELOG.md), and the README says what to expect with few and with all labels, in numbers
that docs/results.md's tables hold."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULT_PAGES = [ROOT / "docs" / "results.md", ROOT / "docs" / "speed.md"]
# A work log's words: goals and whether they were reached, dated or earlier states.
HISTORY = re.compile(r"\btargets?\b|\bgoals?\b|\breached\b|first version|morning|afternoon|"
                     r"\b20\d\d-\d\d-\d\d\b|became the default|\bnow runs\b|\(it was|"
                     r"not measured yet", re.I)


def table_headers(markdown: str) -> list[str]:
    """The first row of each table."""
    return re.findall(r"^(\|.*\|)\n\| ---", markdown, re.M)


@pytest.mark.parametrize("page", RESULT_PAGES, ids=lambda path: path.name)
def test_result_pages_hold_no_goals_or_history(page):
    text = page.read_text()
    for name in ("12x12 targets", "soft targets", "soft-targets"):
        text = text.replace(name, "")  # the model's targets, not goals
    assert not [line for line in text.splitlines() if HISTORY.search(line)]
    assert not [row for row in table_headers(text) if re.search(r"target|reached", row, re.I)]


def test_goals_and_history_are_in_the_changelog():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "| goal | best measured | reached |" in changelog
    assert "666 images/s in the first version of the pipeline" in changelog


def test_readme_says_what_to_expect_with_few_and_all_labels():
    readme = (ROOT / "README.md").read_text()
    results = readme.split("\n## Results\n", 1)[1].split("\n## ", 1)[0]
    expectation = results.strip().split("\n\n", 1)[0]  # the section's first paragraph
    assert "20 labelled photos per class" in expectation
    assert "all 180 labelled photos per class" in expectation
    tables = (ROOT / "docs" / "results.md").read_text()
    for number in ("44.4 ± 3.1", "42.6 ± 1.7", "62.9 ± 1.1", "57.7 ± 0.8"):
        assert number in expectation and number in tables, number
    assert len(re.findall(r"[.!?](?:\s|$)", expectation)) == 2  # two sentences
