"""The command line refuses bad options up front and never loses finished runs."""
import json
import os

import pytest
import torch

import dglbal.experiments.environment
import dglbal.experiments.train
from dglbal.cli import main
from dglbal.experiments.runstore import Interrupted
from dglbal.experiments.config import TrainConfig
from dglbal.experiments.environment import resolve_device
from dglbal.experiments.train import run_experiment

TINY = ["--layers", "2", "--init", "xavier", "--epochs", "2", "--hidden", "4", "--quiet"]



def _fails(argv, capsys, *expected):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("dglbal: error:") and len(err.strip().splitlines()) == 1, err
    for text in expected:
        assert text in err, err
    return err


@pytest.mark.parametrize("command", ["train", "sweep"])
@pytest.mark.parametrize("option, value", [
    ("--epochs", "0"), ("--seeds", "0"), ("--batch-size", "0"), ("--fanout", "0"),
    ("--hidden", "0"), ("--heads", "0"), ("--layers", "0"), ("--epochs", "-3"),
    ("--lr", "-0.1"), ("--lr", "nan"), ("--residual-alpha", "1.5"), ("--loss-threshold", "inf"),
    ("--split", "-1"), ("--seeds", "100000000000000"), ("--epochs", "100000000000000000000"),
    ("--lr", "1e308"), ("--weight-decay", "-1"), ("--dropout", "1"), ("--balance-beta", "0"),
    ("--balance-beta", "nan"), ("--balance-beta", "-1"),
    ("--balance-beta", "4")])  # TINY's --init xavier does not balance
def test_nonsense_options_are_refused_before_anything_runs(tmp_path, capsys, command, option,
                                                           value, monkeypatch):
    monkeypatch.setattr(dglbal.experiments.train, "run_once", pytest.fail)  # nothing may train
    _fails([command, *TINY, option, value, "--out", str(tmp_path / "out")], capsys, option)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("device", ["cuda", "gpu", "cuda:1", "tpu", "mps"])
def test_a_device_this_machine_lacks_says_what_is_available(tmp_path, capsys, device):
    spelled = device.replace("gpu", "cuda")
    index = int(spelled.partition(":")[2] or 0)
    if spelled.startswith("cuda") and torch.cuda.device_count() > index:  # a GPU machine
        assert resolve_device(device) == torch.device(spelled)
        return
    _fails(["train", *TINY, "--device", device, "--out", str(tmp_path)], capsys,
           f"--device {device!r}", "available: cpu")


def test_gpu_means_cuda_and_auto_and_cpu_resolve():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("cpu:5") == torch.device("cpu")  # one CPU device; DGL needs cpu:0
    assert resolve_device("auto").type in ("cpu", "cuda")


def test_an_output_path_that_is_a_file_is_refused_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(dglbal.experiments.train, "run_once", pytest.fail)
    taken = tmp_path / "taken"
    taken.write_text("not a directory")
    _fails(["train", *TINY, "--out", str(taken)], capsys, f"--out {taken}", "not a directory")
    _fails(["sweep", *TINY, "--out", str(taken / "below")], capsys, f"--out {taken / 'below'}")
    assert taken.read_text() == "not a directory"


def test_train_writes_each_run_as_it_finishes_and_resumes(tmp_path, capsys, small_data,
                                                          interrupt_run_once):
    argv = ["train", *TINY, "--seeds", "4", "--out", str(tmp_path)]
    calls = interrupt_run_once(dglbal.experiments.train, on_call=3)
    assert main(argv) == 130
    err = capsys.readouterr().err.strip()
    assert err == (f"dglbal: interrupted: 2 of 4 runs finished and are kept in "
                   f"{tmp_path / 'runs'}; run the same command again to resume")
    kept = sorted((tmp_path / "runs").glob("*.json"))
    assert [json.loads(p.read_text())["seed"] for p in kept] == [0, 1]
    assert sorted(p.suffix for p in (tmp_path / "runs").iterdir()) == [".json", ".json"]
    calls.clear()
    assert main(argv) == 0
    assert calls == [2, 3]  # only the missing runs are trained
    results = json.loads((tmp_path / "results.json").read_text())
    assert [r["seed"] for r in results["runs"]] == [0, 1, 2, 3]


def test_run_experiment_raises_interrupted_naming_what_was_kept(tmp_path, small_data,
                                                                monkeypatch):
    monkeypatch.setattr(dglbal.experiments.train, "run_once", lambda *a, **k: (_ for _ in ()).throw(
        KeyboardInterrupt))
    config = TrainConfig(layers=2, hidden=4, epochs=2, seeds=[0, 1])
    with pytest.raises(Interrupted, match="0 of 2 runs finished") as stop:
        run_experiment(config, progress=False, runs_dir=tmp_path)
    assert isinstance(stop.value, KeyboardInterrupt) and stop.value.folder == tmp_path


def test_run_experiment_refuses_a_bad_config_naming_the_setting():
    with pytest.raises(ValueError, match="--seeds"):
        run_experiment(TrainConfig(seeds=[]), progress=False)
    with pytest.raises(ValueError, match="--init: unknown value"):
        run_experiment(TrainConfig(schemes=["orthogonal"]), progress=False)


def test_a_real_ctrl_c_keeps_the_finished_runs(tmp_path):
    """SIGINT to a `dglbal train` process: exit 130, one line, every finished run on disk."""
    import signal
    import subprocess
    import sys
    import time

    process = subprocess.Popen(
        [sys.executable, "-m", "dglbal", "train", *TINY, "--epochs", "20", "--seeds", "50",
         "--out", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as in a terminal
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("runs/*.json"))) < 1 and process.poll() is None:
        assert time.monotonic() < deadline, "no run finished in 120 s"
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    kept = sorted(tmp_path.glob("runs/*.json"))
    assert process.returncode == 130, err
    assert err.strip().splitlines() == [
        f"dglbal: interrupted: {len(kept)} of 50 runs finished and are kept in "
        f"{tmp_path / 'runs'}; run the same command again to resume"]
    assert all(json.loads(p.read_text())["epochs"] == 20 for p in kept)
    assert not list(tmp_path.glob("runs/*.claim")) and not list(tmp_path.glob("runs/*.tmp"))


@pytest.mark.parametrize("command", ["train", "sweep"])
@pytest.mark.parametrize("argv, expected", [
    (["--model", "sage", "--init", "xavier", "ll_ortho"],
     ["--model sage --init ll_ortho", "only in the attention vectors, and SAGE has none"]),
    (["--init", "xavier", "ll_ortho", "--hidden", "5"],
     ["--init ll_ortho", "--hidden 5", "even number"]),
    (["--model", "gin", "--residual-alpha", "0.5"],
     ["--model gin --init xavier", "--residual-alpha", "no residual aggregation"]),
    (["--metric", "rocauc"], ["--metric rocauc needs a binary task"]),
])
def test_a_combination_a_model_refuses_is_refused_before_any_training(
        tmp_path, capsys, monkeypatch, small_data, command, argv, expected):
    import dglbal.experiments.sweep

    for module in (dglbal.experiments.train, dglbal.experiments.sweep):
        monkeypatch.setattr(module, "run_once", pytest.fail)  # nothing may train
    _fails([command, *TINY, *argv, "--out", str(tmp_path)], capsys, *expected)
    assert not list(tmp_path.glob("runs/*.json"))


def test_a_sweep_refuses_a_depth_a_scheme_cannot_take_before_training_the_others(
        tmp_path, capsys, monkeypatch, small_data):
    import dglbal.experiments.sweep

    monkeypatch.setattr(dglbal.experiments.sweep, "run_once", pytest.fail)
    # the default --hidden: a width given at --layers 1 is refused as having no effect
    _fails(["sweep", "--epochs", "2", "--quiet", "--init", "bal_o", "--layers", "2", "1",
            "--out", str(tmp_path)], capsys, "--init bal_o --layers 1", "needs at least 2 layers")


def test_a_read_only_runs_folder_is_refused_before_training(tmp_path, capsys, monkeypatch):
    """`--out` writable, `--out/runs` not: refused up front, not after the first run."""
    import tempfile

    real = tempfile.TemporaryFile

    def read_only_runs(*args, dir=None, **kwargs):
        if dir is not None and str(dir).endswith("runs"):
            raise PermissionError(13, "Permission denied")
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(dglbal.experiments.environment.tempfile, "TemporaryFile", read_only_runs)
    monkeypatch.setattr(dglbal.experiments.train, "run_once", pytest.fail)
    for command in ("train", "sweep"):
        _fails([command, *TINY, "--out", str(tmp_path)], capsys,
               f"--out {tmp_path}: cannot write in {tmp_path / 'runs'} (Permission denied)")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_really_read_only_runs_folder_is_refused(tmp_path, capsys):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs").chmod(0o500)
    try:
        _fails(["train", *TINY, "--out", str(tmp_path)], capsys, "cannot write in")
    finally:
        (tmp_path / "runs").chmod(0o700)


@pytest.mark.parametrize("taken", ["runs", "results.json", "summary.md"])
def test_an_output_path_taken_by_a_folder_or_file_is_refused(tmp_path, capsys, taken):
    (tmp_path / taken).mkdir() if taken != "runs" else (tmp_path / taken).write_text("x")
    command = "sweep" if taken == "summary.md" else "train"
    if taken == "results.json" or taken == "runs":
        _fails([command, *TINY, "--out", str(tmp_path)], capsys, f"--out {tmp_path}",
               str(tmp_path / taken))
    else:
        _fails([command, *TINY, "--out", str(tmp_path)], capsys, "is a directory")


@pytest.mark.parametrize("option, values", [("--layers", ["2", "2"]),
                                            ("--init", ["xavier", "xavier"])])
def test_a_repeated_grid_value_is_run_and_counted_once(tmp_path, capsys, small_data, option,
                                                       values):
    argv = ["sweep", *TINY, "--seeds", "1", "--out", str(tmp_path)]
    argv[argv.index(option) + 1:argv.index(option) + 2] = values
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert f"dglbal: warning: {option} lists {values[0]} more than once" in captured.err
    assert len(list((tmp_path / "runs").glob("*.json"))) == 1
    row = next(line for line in (tmp_path / "summary.md").read_text().splitlines()
               if line.startswith("| xavier |"))
    assert row.endswith("+- n/a |")  # one run: no interval


def test_the_python_api_refuses_repeated_grid_values(tmp_path):
    from dglbal.experiments import SweepConfig, run_sweep

    with pytest.raises(ValueError, match="--layers lists 2 more than once"):
        run_sweep(SweepConfig(datasets=["synthetic"], depths=[2, 2]), tmp_path, progress=False)
    with pytest.raises(ValueError, match="seeds lists 0 more than once"):
        run_experiment(TrainConfig(seeds=[0, 0]), progress=False)


@pytest.mark.parametrize("command", ["train", "sweep"])
def test_an_empty_output_path_is_refused_not_taken_as_the_current_directory(command, capsys):
    with pytest.raises(SystemExit) as stop:
        main([command, *TINY, "--out", ""])
    assert stop.value.code == 2
    assert "argument --out: must name a directory" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["train", "sweep", "diagnose"])
def test_help_renders_as_written(command, capsys):
    """Descriptions are printed verbatim, option help is %-formatted: a doubled or a dangling
    percent sign in the rendered help is a string in the wrong one of the two styles."""
    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 0
    shown = capsys.readouterr().out
    assert f"dglbal {command}" in shown
    assert "%%" not in shown and "%(" not in shown, shown


@pytest.mark.parametrize("command", ["train", "sweep", "diagnose"])
@pytest.mark.parametrize("abbreviation", [["--seed", "2"], ["--hid", "8"], ["--lay", "3"]])
def test_an_abbreviated_option_is_refused_not_read_as_a_longer_one(command, abbreviation,
                                                                   capsys, tmp_path):
    """argparse would take --seed 2 for --seeds 2 (seeds 0 and 1, not seed 2)."""
    with pytest.raises(SystemExit) as stop:
        main([command, *abbreviation, "--out", str(tmp_path)])
    assert stop.value.code == 2
    assert f"unrecognized arguments: {' '.join(abbreviation)}" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["train", "sweep"])
@pytest.mark.parametrize("argv, expected", [
    (["--batch-size", "7"], "--batch-size has no effect without --minibatch"),
    (["--fanout", "3"], "--fanout has no effect without --minibatch"),
    (["--layers", "10000000000"], "--layers must be a positive integer (at most 1e+09)"),
    (["--conv", "gat", "--no-share-weights"], "--no-share-weights has no effect without "
                                              "--model gat --conv gatv2"),
    (["--layers", "2", "--skip"], "--skip has no effect without --layers 3 or more"),
    (["--layers", "1", "--heads", "4", "--protocol", "paper"],
     "--heads has no effect without --model gat (and, at --layers 1, --protocol dglbal"),
    (["--model", "gcn", "--layers", "1", "--dropout", "0.5"],
     "--dropout has no effect without --layers 2 or more"),
])
def test_an_option_without_effect_is_refused_before_any_training(
        tmp_path, capsys, monkeypatch, command, argv, expected):
    import dglbal.experiments.sweep

    for module in (dglbal.experiments.train, dglbal.experiments.sweep):
        monkeypatch.setattr(module, "run_once", pytest.fail)  # nothing may train
    _fails([command, *TINY, *argv, "--out", str(tmp_path / "out")], capsys, expected)
    assert not (tmp_path / "out").exists()


def test_a_sweep_names_the_cell_an_option_has_no_effect_in(tmp_path, capsys, monkeypatch):
    """--skip acts at --layers 5 and 10, not at 2: the error says at which cell."""
    import dglbal.experiments.sweep

    monkeypatch.setattr(dglbal.experiments.sweep, "run_once", pytest.fail)
    _fails(["sweep", *TINY, "--layers", "5", "2", "10", "--skip", "--out", str(tmp_path)],
           capsys, "at --dataset cora --layers 2 of the sweep: --skip has no effect")


def test_sampling_options_are_taken_with_minibatch_or_a_dist_config(tmp_path, monkeypatch):
    import dglbal.cli

    seen = []
    monkeypatch.setattr(dglbal.cli, "run_dist_experiment",
                        lambda config, *args, **kwargs: seen.append(config))
    monkeypatch.setattr(dglbal.cli, "dist_train_config", lambda config, path, **named: config)
    assert main(["train", *TINY, "--batch-size", "7", "--fanout", "3", "--dist-config",
                 str(tmp_path / "part.json"), "--out", str(tmp_path / "dist")]) == 0
    assert (seen[0].batch_size, seen[0].fanout, seen[0].minibatch) == (7, 3, False)
    assert main(["train", *TINY, "--minibatch", "--batch-size", "7", "--fanout", "3",
                 "--out", str(tmp_path / "mini")]) == 0


@pytest.mark.parametrize("argv", [
    ["--minibatch"], ["--batch-size", "4"], ["--rebalance", "relgrad"], ["--epochs", "1"],
    ["--lr", "5"], ["--optimizer", "adam"], ["--weight-decay", "1"], ["--grad-clip", "1"],
    ["--monitor"], ["--seeds", "4"], ["--loss-threshold", "3"], ["--metric", "rocauc"],
    ["--dropout", "0.5"], ["--quiet"]])
def test_diagnose_refuses_the_options_that_only_act_in_training(argv, capsys, tmp_path):
    """It builds the model at initialization (seed 0, eval mode): these would be ignored."""
    with pytest.raises(SystemExit) as stop:
        main(["diagnose", "--dataset", "synthetic", *argv, "--out", str(tmp_path)])
    assert stop.value.code == 2
    assert f"unrecognized arguments: {' '.join(argv)}" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_diagnose_offers_the_options_that_shape_the_data_and_the_model(capsys):
    from dglbal.cli import build_parser
    from dglbal.experiments.config import cli_fields, option_name

    with pytest.raises(SystemExit):
        main(["diagnose", "--help"])
    shown = capsys.readouterr().out
    for option in ["--model", "--conv", "--hidden", "--heads", "--bias", "--skip", "--init",
                   "--residual-alpha", "--no-share-weights", "--protocol", "--split", "--root",
                   "--device", "--logit-spread", "--balance-beta", "--attention"]:
        assert option in shown
    offered = {option_name(f) for f in cli_fields(at_init=True)}
    assert offered < {option_name(f) for f in cli_fields()}
    args = build_parser().parse_args(["diagnose", "--heads", "2", "--protocol", "paper"])
    assert (args.heads, args.protocol) == (2, "paper") and not hasattr(args, "epochs")
