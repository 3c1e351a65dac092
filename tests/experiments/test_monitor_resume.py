"""``--monitor`` on runs that finished earlier: they are loaded, not trained, so nothing is
monitored; the command says so instead of silently writing no monitor file."""
import warnings

import pytest

from dglbal.cli import main
from dglbal.experiments.runstore import UnmonitoredRunWarning

TINY = ["--layers", "2", "--init", "xavier", "--epochs", "2", "--hidden", "4", "--quiet"]


def test_train_with_monitor_names_the_runs_it_loaded_instead_of_monitoring(tmp_path, small_data):
    argv = ["train", *TINY, "--model", "gcn", "--seeds", "2", "--out", str(tmp_path)]
    assert main(argv[:-2] + ["--seeds", "1", "--out", str(tmp_path)]) == 0  # seed 0, no monitor
    with pytest.warns(UnmonitoredRunWarning, match=r"1 run\(s\).*synthetic-gcn-L2-xavier-s0-"):
        assert main(argv + ["--monitor"]) == 0
    assert (tmp_path / "monitor_xavier_seed1.png").exists()  # trained now: monitored
    assert not (tmp_path / "monitor_xavier_seed0.png").exists()  # loaded: said so above
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnmonitoredRunWarning)  # all trained: nothing to say
        assert main(argv[:-1] + [str(tmp_path / "fresh"), "--monitor"]) == 0


def test_sweep_with_monitor_names_the_first_seeds_runs_it_loaded(tmp_path, small_data):
    argv = ["sweep", "--dataset", "synthetic", *TINY, "--model", "gcn", "--out", str(tmp_path)]
    assert main(argv + ["--seeds", "1"]) == 0
    with pytest.warns(UnmonitoredRunWarning, match=r"1 run\(s\).*synthetic-gcn-L2-xavier-s0-"):
        assert main(argv + ["--seeds", "2", "--monitor"]) == 0
    assert not list((tmp_path / "monitor").rglob("*.png"))  # seed 1 is not monitored


@pytest.mark.parametrize("command", ["train", "sweep"])
def test_monitor_without_matplotlib_is_refused_before_any_run_trains(tmp_path, small_data,
                                                                      monkeypatch, capsys,
                                                                      command):
    """The monitor's plot is written as each run ends: without matplotlib the first run
    would train and then be lost (its file is written after the plot)."""
    import sys

    import dglbal.experiments.sweep
    import dglbal.experiments.train

    trained = []
    for module in (dglbal.experiments.train, dglbal.experiments.sweep):
        monkeypatch.setattr(module, "run_once", lambda *a, **k: trained.append(a) or 1 / 0)
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # not installed
    argv = [command, *TINY, "--model", "gcn", "--monitor", "--out", str(tmp_path)]
    assert main(argv + (["--dataset", "synthetic"] if command == "sweep" else [])) == 2
    err = capsys.readouterr().err
    assert "--monitor plots need matplotlib" in err and "nothing was trained" in err
    assert trained == [] and not list(tmp_path.rglob("*.json"))
