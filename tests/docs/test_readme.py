"""The README is the landing page: its quickstart comes first and runs, its links lead somewhere,
its test command is what CI runs, and its measured numbers are those of benchmarks/RESULTS.md."""
from __future__ import annotations

import re
from pathlib import Path
from typing import List

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
FIRST_SCREEN = 60  # lines a newcomer sees without scrolling far
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else len(text)]


def _slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(page: Path) -> List[str]:
    text = BLOCK.sub("", page.read_text())
    return [_slug(line.lstrip("#")) for line in text.splitlines() if re.match(r"#+ ", line)]


def test_quickstart_is_on_the_first_screen_and_runs(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    text = README.read_text()
    blocks = [(m.start(), m.group(2)) for m in BLOCK.finditer(text) if m.group(1) == "python"]
    assert blocks, "the README lost its quickstart"
    start, code = blocks[0]
    assert text[:start].count("\n") < FIRST_SCREEN
    for name in ("dglbal.analyze(", "dglbal.analyze_and_balance(", "check_conservation("):
        assert name in code
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "readme"}
    exec(compile(code, "<README.md, quickstart>", "exec"), namespace)
    assert len(namespace["report"].groups) == 64  # the count its comment states


def test_the_readme_test_command_is_what_ci_runs() -> None:
    commands = [line.split("#")[0].strip() for lang, body in BLOCK.findall(README.read_text())
                if lang == "bash" for line in body.splitlines()]
    assert "make test" in commands
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.startswith("#")]
    assert ci[-1] == "make test"


@pytest.mark.parametrize("page", [README] + sorted((ROOT / "docs").glob("*.md"))
                         + sorted((ROOT / "docs" / "guide").glob("*.md")),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_lead_to_files_and_headings(page: Path) -> None:
    """Links to files and to headings resolve as on GitHub (Sphinx checks the site's own)."""
    for target in LINK.findall(BLOCK.sub("", page.read_text())):
        if re.match(r"[a-z]+:", target) or target.endswith((".rst",)):
            continue  # a URL, or a page Sphinx generates
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        assert resolved.exists(), f"{page.name}: link to {target} leads nowhere"
        if anchor and resolved.suffix == ".md":
            assert anchor in _anchors(resolved), f"{page.name}: no heading #{anchor} in {path}"


def test_measured_numbers_are_those_of_results() -> None:
    results = (ROOT / "benchmarks" / "RESULTS.md").read_text()
    measured = _section(README.read_text(), "Measured here")
    cells = re.findall(r"\d+\.\d+ \+- \d+\.\d+(?: \(\d+\.\d+ \+- \d+\.\d+\))?", measured)
    assert len(cells) >= 12
    for cell in cells:
        assert cell in results, f"{cell} is not in benchmarks/RESULTS.md"
    numbers = set(re.findall(r"(?<![\w.])\d+\.\d+(?![\w.])", measured))
    missing = sorted(n for n in numbers if not re.search(rf"(?<![\d.]){re.escape(n)}(?![\d])",
                                                          results))
    assert not missing, f"numbers not in benchmarks/RESULTS.md: {missing}"
