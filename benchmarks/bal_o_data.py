"""bal_o_data against BalO tuned the same way: both chosen on validation only.

    python benchmarks/bal_o_data.py run --out DIR [--epochs 600] [--seeds 5] [--worker I/N]
        [--betas 0.5 1 2 4 8] [--lr-factors 1 2 4] [--spreads 0.1 0.3 1]
    python benchmarks/bal_o_data.py report --out DIR [the same grid options]

``bal_o_data`` is BalO with another beta (multiplying every weight by s is balancing with
beta = 2 s^2), its target logit spread a free parameter; BalO's free parameters are beta and
the learning rate. So each is tuned on the same footing: per cell (GAT, GATv2 width 64 one
head, on Cora and Citeseer at L = 10 and 20, SGD, ``--protocol dglbal``, at most
``--epochs`` epochs, seeds 0 .. ``--seeds`` - 1)

- BalO at every beta of ``--betas`` and every rate ``factor x`` the paper's of
  ``--lr-factors`` (beta 2 at factor 1 is the paper's BalO);
- ``bal_o_data`` at the paper's rate and every target spread of ``--spreads``.

**Selection rule** (:func:`dglbal.experiments.tables.choose_on_validation`): per cell and
scheme, the setting with the highest mean best validation accuracy over the seeds every
setting of that scheme has finished (a run that diverged before any scored epoch counts 0);
test accuracy is read only for the chosen setting (and for the paper's BalO, fixed in
advance). ``report`` writes ``DIR/bal_o_data.md``: the chosen settings with their validation
and test accuracy, then the validation accuracy of every setting.

Runs are resumable like ``paper_protocol.py``: one file per run under ``DIR/runs`` (a run of
another setting has another name), finished runs are loaded, not trained, so the same command
resumes and a larger ``--seeds`` extends the study. The seeds go round every setting of every
cell (seed 0 of all, then seed 1, ...), so a run cut short compares equal seeds.
``--worker I/N`` gives every N-th (cell, setting) to process I; seed by seed as well.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from dglbal.experiments.atomic import write_text_atomic
from dglbal.experiments.protocol import paper_learning_rate
from dglbal.experiments.runstore import balance_beta_of, logit_spread_of
from dglbal.experiments.tables import choose_on_validation, setting_table
from dglbal.init import get_scheme

from paper_protocol import Cell, load_records, run_seeds, worker_slot

CELLS = [("cora", 10), ("citeseer", 10), ("cora", 20), ("citeseer", 20)]
BETAS = (0.5, 1.0, 2.0, 4.0, 8.0)
LR_FACTORS = (1.0, 2.0, 4.0)
SPREADS = (0.1, 0.3, 1.0)
PAPER_BETA = get_scheme("bal_o").balance_beta


def units(betas: Sequence[float], factors: Sequence[float],
          spreads: Sequence[float]) -> List[Cell]:
    """Every (cell, setting) of the study, as one-scheme cells: the paper's values are left
    at their defaults (None), so those runs keep the names any other sweep gives them."""
    found = []
    for dataset, layers in CELLS:
        rate = paper_learning_rate(dataset, layers, "sgd")
        for factor in factors:
            for beta in betas:
                found.append(Cell("", dataset, layers, schemes=("bal_o",),
                                  lr=None if factor == 1 else factor * rate,
                                  balance_beta=None if beta == PAPER_BETA else beta))
        found += [Cell("", dataset, layers, schemes=("bal_o_data",), logit_spread=spread)
                  for spread in spreads]
    return found


def setting_of(record: dict) -> Tuple[str, float, float, Optional[float]]:
    """(scheme, lr factor, beta, target spread: None for a scheme it does not scale) of a
    run record."""
    factor = record["lr"] / paper_learning_rate(record["dataset"], record["layers"], "sgd")
    return record["scheme"], round(factor, 6), balance_beta_of(record), logit_spread_of(record)


def label(setting: Tuple[str, float, float, float]) -> str:
    scheme, factor, beta, spread = setting
    tuned = (f"spread {spread:g}" if scheme == "bal_o_data"
             else f"beta {beta:g}")
    return f"{tuned}, lr {factor:g}x"


def tables(records: List[dict], epochs: int) -> str:
    """The report: the selection rule, the chosen settings, then every setting's validation
    accuracy."""
    cells: Dict[Tuple[str, int], Dict[tuple, List[dict]]] = {}
    for r in records:
        cells.setdefault((r["dataset"], r["layers"]), {}).setdefault(setting_of(r), []).append(r)
    chosen_rows, all_rows = [], []
    for (dataset, layers), settings in sorted(cells.items(), key=lambda c: (c[0][1], c[0][0])):
        for scheme in ("bal_o_data", "bal_o"):
            candidates = {s: runs for s, runs in settings.items() if s[0] == scheme}
            if not candidates:
                continue
            best, seeds, score = choose_on_validation(candidates)
            if best is not None:
                runs = [r for r in candidates[best] if r["seed"] in seeds]
                chosen_rows.append(([dataset, str(layers), scheme, label(best),
                                     str(len(candidates))], runs))
            paper = (scheme, 1.0, PAPER_BETA, None)
            if scheme == "bal_o" and paper in candidates:
                chosen_rows.append(([dataset, str(layers), scheme, label(paper) + " (paper's, "
                                     "fixed)", "-"],
                                    [r for r in candidates[paper] if r["seed"] in seeds]))
            all_rows += [([dataset, str(layers), scheme, label(s)], runs)
                         for s, runs in sorted(candidates.items())]
    return "\n".join([
        f"GAT (GATv2, width 64, one head), SGD, `--protocol dglbal`, at most {epochs} epochs. "
        "Selection rule: per cell and scheme, the setting with the highest mean best "
        "validation accuracy over the seeds every setting of that scheme has finished (a run "
        "diverged before any scored epoch counts 0); test accuracy only at the chosen setting "
        "(and at the paper's BalO, fixed in advance). lr factors multiply the paper's rate.",
        "",
        "Chosen on validation (runs: the common seeds the choice used; best val: the score "
        "it was chosen by):", "",
        setting_table(["dataset", "L", "scheme", "setting", "settings tried"], chosen_rows),
        "",
        "Every setting, validation only (no test accuracy: these were not chosen):", "",
        setting_table(["dataset", "L", "scheme", "setting"], all_rows, test=False)])


def positive(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("run", "report"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=600)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--betas", type=positive, nargs="+", default=list(BETAS))
    parser.add_argument("--lr-factors", type=positive, nargs="+", default=list(LR_FACTORS))
    parser.add_argument("--spreads", type=positive, nargs="+", default=list(SPREADS))
    parser.add_argument("--worker", type=worker_slot, default=(0, 1),
                        help="I/N: every N-th (cell, setting) from I")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.seeds < 1:
        parser.error("--epochs and --seeds must be at least 1")
    worker, workers = args.worker
    plan = units(*(list(dict.fromkeys(values))  # a value given twice is one setting
                   for values in (args.betas, args.lr_factors, args.spreads)))
    args.out.mkdir(parents=True, exist_ok=True)
    if args.command == "run":
        for count in range(1, args.seeds + 1):
            for unit in plan[worker::workers]:
                run_seeds(unit, args.out, args.epochs, count, "dglbal")
            print(f"done: seeds 0-{count - 1} of every setting", flush=True)
    wanted = {(c.dataset, c.layers, c.schemes[0], c.config(1, 1).learning_rate(),
               c.config(1, 1).beta_of(c.schemes[0]),
               c.logit_spread if get_scheme(c.schemes[0]).data_scaled else None) for c in plan}
    records = [r for r in (load_records(args.out) if (args.out / "runs").is_dir() else [])
               if r["budget"] == args.epochs and r["seed"] < args.seeds
               and (r["dataset"], r["layers"], r["scheme"], r["lr"], balance_beta_of(r),
                    logit_spread_of(r)) in wanted]
    text = tables(records, args.epochs)
    if records:
        write_text_atomic(args.out / "bal_o_data.md", text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
