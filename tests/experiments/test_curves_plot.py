"""curves.png: a seed that diverged before its first scored epoch has no curve, and leaves
the other seeds' mean curve drawn (it is not averaged in as NaN)."""
import math

import numpy as np
import pytest

import dglbal.experiments.tables as tables
from dglbal.experiments.config import RunResult

pytest.importorskip("matplotlib")


def _run(seed, losses, vals, scheme="xavier"):
    scored = bool(vals)
    return RunResult(scheme=scheme, seed=seed, test_acc=0.5 if scored else None,
                     best_val_acc=max(vals) if scored else None,
                     best_epoch=int(np.argmax(vals)) if scored else -1, epochs=len(vals),
                     seconds=0.1, stop_reason="max_epochs" if scored else "diverged",
                     train_loss=losses, val_acc=vals)


def test_a_seed_without_any_epoch_leaves_the_others_curve_drawn(tmp_path, monkeypatch):
    figures = []

    def capture(*args, **kwargs):
        figures.append(tables_new_figure(*args, **kwargs))
        return figures[-1]

    tables_new_figure = tables.new_figure
    monkeypatch.setattr(tables, "new_figure", capture)
    runs = [_run(0, [1.0, 0.5, 0.25], [0.2, 0.4, 0.6]), _run(1, [1.0, 0.7], [0.4, 0.6]),
            _run(2, [], [])]  # seed 2 diverged at its first step
    tables.plot_curves(runs, tmp_path / "curves.png")
    _, (ax_loss, ax_val) = figures[0]
    (loss,), (val,) = ax_loss.get_lines(), ax_val.get_lines()
    assert list(loss.get_ydata()) == pytest.approx([1.0, 0.6, 0.475])  # 0.7 kept for seed 1
    assert list(val.get_ydata()) == pytest.approx([0.3, 0.5, 0.6])
    assert not any(math.isnan(y) for y in val.get_ydata())


def test_runs_that_all_diverged_at_once_give_an_empty_plot(tmp_path, recwarn):
    path = tables.plot_curves([_run(0, [], []), _run(1, [], [])], tmp_path / "curves.png")
    assert path.exists() and not [w for w in recwarn if "legend" in str(w.message)]
