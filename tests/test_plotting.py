"""Plotting is an optional extra (``dglbal[plot]``) with no global side effects: dglbal never
selects a matplotlib backend, never uses pyplot, and ``import dglbal`` does not import
matplotlib."""
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("matplotlib")  # the plots need the `plot` extra; the rest of dglbal does not

# A 3-layer GAT (balanced orthogonal init), a ConservationMonitor with two recorded steps, two
# runs of two schemes for the curves and a two-depth grid for the sweep's depth plot.
_SETUP = """
import sys
from pathlib import Path

import torch

import dglbal
from dglbal import analyze
from dglbal.experiments.config import RunResult
from dglbal.experiments.sweep import _plot_depths
from dglbal.experiments.tables import plot_curves
from dglbal.nn import GAT

out = Path(sys.argv[1])
torch.manual_seed(0)
model = GAT(6, 4, 3, num_layers=3, init="bal_o")
monitor = dglbal.ConservationMonitor(model, analyze(model))
graph, feat = model.probe_inputs()
for _ in range(2):
    model.zero_grad()
    model(graph, feat).square().sum().backward()
    monitor.record()
runs = [RunResult(scheme, seed, 0.5, 0.6, 1, 3, 0.1, "max_epochs", [1.0, 0.5, 0.25][:3 - seed],
                  [0.2, 0.4, 0.6][:3 - seed]) for scheme in ("xavier", "bal_o") for seed in (0, 1)]
records = [dict(dataset="cora", model="gat", layers=layers, scheme=scheme, seed=seed,
                test_acc=0.5 + 0.01 * seed, best_epoch=3)
           for layers in (2, 4) for scheme in ("xavier", "bal_o") for seed in (0, 1)]
"""


def _run(tmp_path, *parts):
    """Run the script made of ``parts`` (each dedented) in a fresh interpreter; its stdout."""
    script = "\n".join(textwrap.dedent(part) for part in parts)
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_plots_keep_the_users_backend_and_never_use_pyplot(tmp_path):
    script = """
    import sys
    import dglbal, dglbal.balance, dglbal.experiments.tables, dglbal.experiments.sweep
    assert "matplotlib" not in sys.modules, "import dglbal imported matplotlib"

    import matplotlib
    matplotlib.use("pdf")  # the user's choice, which plotting must not switch to Agg
    """
    plots = """
    written = [monitor.plot(out / "monitor.png", "monitor"),
               plot_curves(runs, out / "curves.png", "curves"),
               _plot_depths(records, out)]
    print(matplotlib.get_backend())
    print("matplotlib.pyplot" in sys.modules)
    print(*[p.name for p in written])
    """
    backend, pyplot_imported, names = _run(tmp_path, script, _SETUP, plots).splitlines()[-3:]
    assert backend == "pdf"
    assert pyplot_imported == "False"
    assert names.split() == ["monitor.png", "curves.png", "accuracy_vs_depth.png"]
    for name in names.split():
        png = (tmp_path / name).read_bytes()
        assert png[:4] == b"\x89PNG" and len(png) > 10_000
    # Same size and dpi as before: figsize x dpi pixels (sizes read from the PNG header).
    sizes = {name: (int.from_bytes((tmp_path / name).read_bytes()[16:20], "big"),
                    int.from_bytes((tmp_path / name).read_bytes()[20:24], "big"))
             for name in names.split()}
    assert sizes == {"monitor.png": (1320, 880), "curves.png": (1320, 480),
                     "accuracy_vs_depth.png": (550, 770)}


def test_core_works_without_matplotlib_and_plots_say_how_to_get_it(tmp_path):
    # matplotlib "not installed": None in sys.modules makes every import of it fail.
    script = """
    import sys
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends",
                 "matplotlib.backends.backend_agg", "matplotlib.pyplot"):
        sys.modules[name] = None
    """
    plots = """
    from dglbal import analyze_and_balance
    analyze_and_balance(GAT(6, 4, 3, num_layers=3))  # the core needs no matplotlib
    for plot in (lambda: monitor.plot(out / "monitor.png"),
                 lambda: plot_curves(runs, out / "curves.png"),
                 lambda: _plot_depths(records, out)):
        try:
            plot()
        except ImportError as error:
            print(error)
        else:
            raise AssertionError("no ImportError without matplotlib")
    """
    messages = _run(tmp_path, script, _SETUP, plots).splitlines()[-3:]
    assert messages == ["plotting needs matplotlib: pip install 'dglbal[plot]'"] * 3
    assert list(tmp_path.iterdir()) == []


def test_missing_matplotlib_in_process(monkeypatch, tmp_path):
    from dglbal._plotting import new_figure
    from dglbal.experiments.config import RunResult
    from dglbal.experiments.tables import plot_curves

    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends",
                 "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"pip install 'dglbal\[plot\]'"):
        new_figure(1, 2, figsize=(4, 3))
    run = RunResult("xavier", 0, 0.5, 0.6, 1, 2, 0.1, "max_epochs", [1.0, 0.5], [0.2, 0.4])
    with pytest.raises(ImportError, match=r"dglbal\[plot\]"):
        plot_curves([run], tmp_path / "curves.png")
    assert not (tmp_path / "curves.png").exists()
