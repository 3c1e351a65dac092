"""Print the zoo's outcomes, worst first, as markdown tables.

    PYTHONPATH=.:tests/symmetry python -m zoo [--readme] [case names...]

Without ``--readme``: one row per case with the status it must reach, the status it has, the
measured detail and the known cause (the status file for the analyser team). With
``--readme``: the table of docs/guide/analyser.md's module zoo section. Progress goes to stderr.
HYPOTHESIS_PROFILE=thorough widens the sweep as in tests/symmetry/test_zoo.py.
"""
import sys

from . import CASES, KNOWN_FAILURES, ORDER_DEPENDENT, classify
from .classify import STATUSES, Outcome

WRONG = ("FALSE SYMMETRY", "crash", "MISSED SYMMETRY", "UNNAMED REFUSAL")


def _cause(name: str) -> str:
    return KNOWN_FAILURES.get(name) or ORDER_DEPENDENT.get(name, "")


def readme_status(name: str, outcome: Outcome) -> str:
    if outcome.status == "exact":
        return f"exact ({outcome.groups} groups)"
    if outcome.status == "refused":
        should = ", should be exact" if CASES[name].expect == "exact" else ""
        return (f"refused{should} ({outcome.groups} groups of {outcome.blackbox}): "
                f"{_cause(name) or CASES[name].why}")
    cause = _cause(name).removeprefix(f"{outcome.status}: ") or outcome.detail
    return f"**still wrong: {outcome.status}** ({outcome.groups} groups): {cause}"


def main(argv) -> None:
    readme = "--readme" in argv
    names = [a for a in argv if not a.startswith("-")] or list(CASES)
    rows = []
    for name in names:
        outcome = classify(CASES[name])
        rows.append((STATUSES.index(outcome.status), name, outcome))
        print(f"{name}: {outcome.describe()}", file=sys.stderr, flush=True)
    rows.sort(key=lambda row: row[0])
    if readme:
        print("| case (dgl.nn.pytorch classes it covers) | result |\n|---|---|")
        for _, name, outcome in rows:
            covers = ", ".join(c for c in CASES[name].covers if c != name)
            print(f"| {name}{f' ({covers})' if covers else ''} | {readme_status(name, outcome)} |")
        return
    print("| case | must be | is | detail | known cause | repro |\n|---|---|---|---|---|---|")
    for _, name, outcome in rows:
        detail = outcome.describe()[len(outcome.status) + 1:].replace("|", "/")
        print(f"| {name} | {CASES[name].expect} | {outcome.status} | {detail} | {_cause(name)} "
              f"| `pytest 'tests/symmetry/test_zoo.py::test_zoo[{name}]'` |")


main(sys.argv[1:])
