"""How benchmarks/architectures.py's tables say that runs did not train: diverged, flat (never
above the first epoch's validation accuracy) or at a one-class predictor's accuracy. The study
itself is a benchmark, run by hand."""
import numpy as np


def _run(test_acc, best_epoch, stop_reason="max_epochs", final_loss=0.5):
    return {"test_acc": test_acc, "best_epoch": best_epoch, "stop_reason": stop_reason,
            "train_loss": [2.0, final_loss]}


def test_endings_count_each_way_a_run_fails_to_train_once(architectures):
    one_class = (100.0 * 22 / 37, 100.0 * 8 / 37, 100.0 * 7 / 37)
    runs = [_run(None, -1, "diverged"),          # diverged before any scored epoch
            _run(0.3, 150, "diverged"),          # scored, then diverged: counted as diverged
            _run(8 / 37, 20, "diverged"),        # a one-class score, then diverged: diverged
            _run(22 / 37, 0),                    # flat, at a one-class rate too: flat only
            _run(0.1, 0),                        # flat
            _run(22 / 37, 40),                   # learned to predict the majority class
            _run(float(np.float32(8 / 37)), 40),  # another single class, scored in float32
            _run(0.7, 80)]                       # trained
    assert architectures._endings(runs, one_class) == "3 div, 2 flat, 2 one"
    assert architectures._endings([_run(0.7, 80)], one_class) == "-"


def test_a_cell_names_runs_and_endings(architectures):
    text = architectures._cell_text([_run(0.5, 9, final_loss=0.1), _run(0.7, 19, final_loss=0.3),
                                     _run(None, -1, "diverged", final_loss=float("nan"))],
                                    one_class=(13.0, 30.0))
    accuracy, endings, best = [part.strip() for part in text.split("|")]
    assert accuracy.endswith("(3)") and accuracy.startswith("60.0 +- ")
    assert endings == "1 div; loss 0.2"  # the median final loss of the runs that did not diverge
    assert best.startswith("15")  # epochs 10 and 20, median 15
