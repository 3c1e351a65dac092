"""Print the zoo's outcomes, worst first, as a markdown table.

    PYTHONPATH=.:tests python -m zoo [--thorough] [case names...]

Each row names the case, the status it must reach, the status it has, and the measured detail
(groups found, black-box dimension, what ``report.unsupported`` names).
"""
import sys
import time

from . import CASES, KNOWN_FAILURES, ORDER_DEPENDENT, classify
from .classify import STATUSES

thorough = "--thorough" in sys.argv
names = [a for a in sys.argv[1:] if not a.startswith("-")] or list(CASES)
rows = []
for name in names:
    start = time.perf_counter()
    outcome = classify(CASES[name], *(((0, 1, 2), 8, 3) if thorough else ((0,), 3, 2)))
    rows.append((STATUSES.index(outcome.status), name, outcome, time.perf_counter() - start))
    print(f"{name}: {outcome.describe()}", file=sys.stderr, flush=True)
print("| case | must be | is | detail | known cause | repro |\n|---|---|---|---|---|---|")
for _, name, outcome, seconds in sorted(rows, key=lambda r: r[0]):
    cause = KNOWN_FAILURES.get(name) or ORDER_DEPENDENT.get(name, "")
    detail = outcome.describe()[len(outcome.status) + 1:]
    print(f"| {name} | {CASES[name].expect} | {outcome.status} | {detail.replace('|', '/')} "
          f"| {cause} | `pytest 'tests/test_zoo.py::test_zoo[{name}]'` |")
