"""The `dglbal train | sweep | diagnose` command lines the documentation shows (its bash blocks,
and the Makefile's `make demo`) are accepted: every option exists under that spelling, every
value is one the command takes, and no option is refused as having no effect. Nothing is
trained and no dataset is loaded (the configuration checks only)."""
from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path
from typing import List, Tuple

import pytest

from dglbal.cli import _config, build_parser
from dglbal.experiments.config import validate_config

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md")) \
    + sorted((ROOT / "docs" / "guide").glob("*.md"))
BASH = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)
COMMAND = re.compile(r"^(?:python -m )?(?:\$\(BIN\)/)?dglbal (train|sweep|diagnose)\b")


def _lines(text: str) -> List[str]:
    """Shell lines with continuations joined and comments dropped."""
    lines = []
    for line in text.replace("\\\n", " ").splitlines():
        line = line.split(" #")[0].strip()
        if line:
            lines.append(line)
    return lines


def _documented() -> List[Tuple[str, str]]:
    found = []
    for page in PAGES:
        for block in BASH.findall(page.read_text()):
            found += [(page.name, line) for line in _lines(block) if COMMAND.match(line)]
    makefile = (ROOT / "Makefile").read_text()
    demo = makefile.split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    found += [("Makefile", line) for line in _lines(demo) if COMMAND.match(line)]
    return found


def test_the_documentation_shows_commands() -> None:
    where = {page for page, _ in _documented()}
    assert {"Makefile", "cli.md", "quickstart.md", "papers.md", "rescaling.md"} <= where


@pytest.mark.parametrize("page, line", _documented(), ids=lambda v: v[:60])
def test_documented_command_is_accepted(page: str, line: str) -> None:
    argv = shlex.split(COMMAND.sub(r"\1", line))
    if "--help" in argv:
        return
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        try:
            args = build_parser().parse_args(argv)
        except SystemExit:
            pytest.fail(f"{page}: `{line}` is refused: {stderr.getvalue().strip()}")
    datasets = args.dataset if isinstance(args.dataset, list) else [args.dataset or "synthetic"]
    depths = args.layers if isinstance(args.layers, list) else [args.layers]
    for dataset in datasets:
        for layers in depths:
            try:
                validate_config(_config(args, dataset, layers),
                                distributed=getattr(args, "dist_config", None) is not None)
            except ValueError as error:
                pytest.fail(f"{page}: `{line}` is refused: {error}")
