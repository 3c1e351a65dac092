"""Sweeps sharing one --out split the grid through per-run claims."""
import json
import os
import socket
import subprocess
import sys
import threading
import time
import warnings

import pytest

from dglbal.experiments import claims, runstore
from dglbal.experiments.config import RunResult, TrainConfig
from dglbal.experiments.runkey import run_name
from dglbal.experiments.runstore import RunClaimedWarning, run_or_load


def _result(scheme, seed):
    return RunResult(scheme=scheme, seed=seed, test_acc=0.5, best_val_acc=0.5, best_epoch=0,
                     epochs=1, seconds=0.0, stop_reason="max_epochs", train_loss=[1.0],
                     val_acc=[0.5])


def _grid(seeds=6):
    config = TrainConfig(hidden=8, schemes=["xavier", "bal_o"], seeds=list(range(seeds)))
    return [(config, scheme, seed) for scheme in config.schemes for seed in config.seeds]


def test_two_sweeps_on_one_directory_train_each_run_once(tmp_path, monkeypatch):
    monkeypatch.setattr(runstore, "CLAIM_POLL_SECONDS", 0.01)
    trained, lock = [], threading.Lock()

    def train(config, scheme, seed):
        with lock:
            trained.append((scheme, seed))
        time.sleep(0.02)
        return _result(scheme, seed), "cpu"

    runs, outcomes = _grid(), []

    def sweep():
        outcomes.append(run_or_load(runs, tmp_path, train))

    with pytest.warns(RunClaimedWarning):  # one of them meets the other's claims
        threads = [threading.Thread(target=sweep) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert sorted(trained) == sorted((s, n) for _, s, n in runs)  # each run trained once
    assert len(outcomes) == 2
    for records in outcomes:  # both sweeps end with every run, in the grid's order
        assert [(r["scheme"], r["seed"]) for r in records] == [(s, n) for _, s, n in runs]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{run_name(c, s, n)}.json" for c, s, n in runs)  # no claim is left behind


def _dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_claim_of_a_dead_process_is_taken_over(tmp_path):
    runs = _grid(seeds=1)[:1]
    config, scheme, seed = runs[0]
    claim = tmp_path / f"{run_name(config, scheme, seed)}.claim"
    claim.write_text(json.dumps({"pid": _dead_pid(), "host": socket.gethostname()}))
    records = run_or_load(runs, tmp_path, lambda c, s, n: (_result(s, n), "cpu"))
    assert records[0]["seed"] == 0 and not claim.exists()


def test_a_live_claim_is_respected_and_waited_for(tmp_path, monkeypatch):
    monkeypatch.setattr(runstore, "CLAIM_POLL_SECONDS", 0.01)
    config, scheme, seed = _grid(seeds=1)[0]
    path = tmp_path / f"{run_name(config, scheme, seed)}.json"
    claim = path.with_suffix(".claim")
    assert claims.claim(claim)  # "another sweep" (this process) trains it
    assert not claims.claim(claim)
    assert claims.holder(claim)["pid"] == os.getpid()
    assert claims.describe(claim) == f"pid {os.getpid()} on host {socket.gethostname()}"

    def finish_elsewhere():
        time.sleep(0.1)
        runstore.write_json_atomic(path, runstore.run_record(config, _result(scheme, seed),
                                                             "cpu", run=path.stem))
        claims.release(claim)

    other = threading.Thread(target=finish_elsewhere)
    other.start()
    with pytest.warns(RunClaimedWarning, match=f"run {path.stem} is being trained by another "
                                               "process"):
        records = run_or_load([(config, scheme, seed)], tmp_path, pytest.fail)
    other.join()
    assert records[0]["run"] == path.stem


def test_a_claim_on_another_host_is_not_taken_over(tmp_path):
    claim = tmp_path / "x.claim"
    claim.write_text(json.dumps({"pid": _dead_pid(), "host": "elsewhere.example"}))
    assert not claims.claim(claim)


def test_a_failed_run_releases_its_claim(tmp_path):
    config, scheme, seed = _grid(seeds=1)[0]

    def broken(*run):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        run_or_load([(config, scheme, seed)], tmp_path, broken)
    assert list(tmp_path.iterdir()) == []


def test_an_interrupt_just_after_claiming_leaves_no_claim(tmp_path, monkeypatch):
    """Ctrl-C landing between `claim` returning and the caller's next step (the window a real
    SIGINT hit in CI) still releases the claim, and only this call's."""
    config, scheme, seed = _grid(seeds=1)[0]
    other = tmp_path / "another-run.claim"
    assert claims.claim(other, token="another thread")

    def claim_then_interrupt(path, token=None):
        assert claims.claim(path, token)
        raise KeyboardInterrupt

    monkeypatch.setattr(runstore, "claim", claim_then_interrupt)
    with pytest.raises(runstore.Interrupted):
        run_or_load([(config, scheme, seed)], tmp_path, pytest.fail)
    assert [p.name for p in tmp_path.iterdir()] == [other.name]


def test_release_own_leaves_other_claims_alone(tmp_path):
    path = tmp_path / "x.claim"
    assert claims.claim(path, token="mine")
    claims.release_own(path, "someone else's")
    assert path.exists()
    claims.release_own(path, "mine")
    assert not path.exists()
    claims.release_own(path, "mine")  # gone already: nothing to do


def test_a_claim_that_cannot_be_written_is_named_and_removed(tmp_path, monkeypatch):
    import errno

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(claims.json, "dump", full)
    with pytest.raises(OSError, match=f"cannot write the claim {tmp_path / 'x.claim'}: No space"):
        claims.claim(tmp_path / "x.claim")
    assert list(tmp_path.iterdir()) == []


def test_two_real_sweeps_on_one_out_split_the_grid(tmp_path, monkeypatch):
    """Two `run_sweep`s at once on one directory (threads): every run trained exactly once,
    both return the whole grid."""
    import dglbal.experiments.protocol
    import dglbal.experiments.sweep
    from dglbal.data import make_synthetic
    from dglbal.data._common import finalize
    from dglbal.experiments import SweepConfig, run_sweep

    graph = finalize(make_synthetic(num_nodes=200, num_features=30))
    monkeypatch.setattr(dglbal.experiments.protocol, "load_dataset", lambda *a, **k: graph)
    monkeypatch.setattr(runstore, "CLAIM_POLL_SECONDS", 0.01)
    real_run_once, trained, lock = dglbal.experiments.sweep.run_once, [], threading.Lock()

    def counted(config, scheme, seed, *args, **kwargs):
        with lock:
            trained.append((config.layers, scheme, seed))
        return real_run_once(config, scheme, seed, *args, **kwargs)

    monkeypatch.setattr(dglbal.experiments.sweep, "run_once", counted)
    sweep = SweepConfig(datasets=["synthetic"], depths=[2, 3], base=TrainConfig(
        hidden=4, epochs=2, schemes=["xavier", "bal_o"], seeds=[0, 1]))
    outcomes = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RunClaimedWarning)
        threads = [threading.Thread(target=lambda: outcomes.append(
            run_sweep(sweep, tmp_path, progress=False))) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    grid = sorted((L, s, n) for L in (2, 3) for s in ("xavier", "bal_o") for n in (0, 1))
    assert sorted(trained) == grid
    assert len(outcomes) == 2 and all(
        sorted((r["layers"], r["scheme"], r["seed"]) for r in records) == grid
        for records in outcomes)
    assert len(list((tmp_path / "runs").glob("*.json"))) == 8
    assert not list((tmp_path / "runs").glob("*.claim"))


def test_of_two_processes_taking_over_one_stale_claim_only_one_holds_it(tmp_path, monkeypatch):
    """Two sweeps restarted after a crash reach the dead sweep's claim together: both judge it
    stale; the first takes it over, and the second must not remove that new, live claim."""
    claim = tmp_path / "run.claim"
    claim.write_text(json.dumps({"pid": _dead_pid(), "host": socket.gethostname()}))
    real = claims._stale

    def judged_stale_then_the_other_claims(path, *text):
        verdict = real(path, *text)
        monkeypatch.setattr(claims, "_stale", real)  # the other process judges for itself
        assert claims.claim(path, "first")  # ... and takes the stale claim over meanwhile
        return verdict

    monkeypatch.setattr(claims, "_stale", judged_stale_then_the_other_claims)
    assert not claims.claim(claim, "second")
    assert claims.holder(claim)["token"] == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.claim"]  # nothing left aside


def test_a_claim_left_by_an_earlier_process_with_this_pid_is_taken_over(tmp_path):
    """A container restarted after a crash gives its sweep the pid of the sweep that died:
    that sweep's claim must not read as this live process's, or the sweep waits for itself
    forever."""
    runs = _grid(seeds=1)[:1]
    config, scheme, seed = runs[0]
    claim = tmp_path / f"{run_name(config, scheme, seed)}.claim"
    claim.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "since": time.time() - 3600, "token": "the dead sweep's"}))
    finished = []
    worker = threading.Thread(daemon=True, target=lambda: finished.append(
        run_or_load(runs, tmp_path, lambda c, s, n: (_result(s, n), "cpu"))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RunClaimedWarning)
        worker.start()
        worker.join(timeout=10)
    assert finished and finished[0][0]["seed"] == 0 and not claim.exists()
    assert claims.claim(claim, "mine") and not claims.claim(claim, "another thread's")
