"""A sweep's run identity, its run files and its tables: finished runs are never lost or
mislabelled."""
import dataclasses
import errno
import json
import os
import pathlib
import re
import warnings

import pytest

from dglbal.experiments import runkey
from dglbal.experiments import runstore as runfiles
from dglbal.cli import main
from dglbal.experiments.runkey import GRID_AXES, legacy_run_name, run_identity, run_name
from dglbal.experiments.runstore import RunFileWarning, load_run, run_record
from dglbal.experiments.tables import summary_tables
from dglbal.experiments.config import RunResult, TrainConfig
from dglbal.init import DEFAULT_LOGIT_SPREAD

@pytest.fixture(autouse=True)
def _small_and_unplotted(monkeypatch):
    """These probes are about which runs are trained and kept: a 300-node graph, no plots."""
    import dglbal.experiments.protocol
    import dglbal.experiments.tables
    import dglbal.experiments.sweep
    from dglbal.data import make_synthetic
    from dglbal.data._common import finalize

    graph = finalize(make_synthetic(num_nodes=300))
    monkeypatch.setattr(dglbal.experiments.protocol, "load_dataset", lambda *args, **kwargs: graph)
    monkeypatch.setattr(dglbal.experiments.sweep, "_plot_depths",
                        lambda records, out: out / "none.png")
    monkeypatch.setattr(dglbal.experiments.tables, "plot_curves", lambda runs, path, title="": path)


TINY = ["--dataset", "synthetic", "--layers", "2", "--init", "xavier", "--seeds", "1",
        "--epochs", "2", "--hidden", "4", "--quiet"]


def _other_value(value):
    """A different value of the same kind, for any field a team may add."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "-other"
    if value is None:
        return 0.5
    if isinstance(value, (list, tuple, dict)):
        return [value, "other"]
    raise AssertionError(f"no probe value for {value!r}: give the field a JSON-like type or mark "
                         "it NOT_IN_RUN_KEY if it cannot change a result")


def _key_fields():
    return [f for f in dataclasses.fields(TrainConfig)
            if f.metadata.get("run_key", True) and f.name not in GRID_AXES]


@pytest.mark.parametrize("name", [f.name for f in _key_fields()])
def test_every_result_field_changes_the_run_file_name(name):
    config = TrainConfig(dataset="cora", layers=5, lr=0.3,  # lr given: any optimizer name
                         minibatch=name in ("batch_size", "fanout"))  # where they act
    changed = dataclasses.replace(config, **{name: _other_value(getattr(config, name))})
    assert run_name(changed, "xavier", 0) != run_name(config, "xavier", 0)
    assert run_identity(changed, "xavier", 0) != run_identity(config, "xavier", 0)


def test_io_fields_and_device_do_not_change_the_run():
    config = TrainConfig(dataset="cora")
    other = dataclasses.replace(config, root="/elsewhere", device="cpu", monitor=True)
    assert run_name(other, "bal_o", 2) == run_name(config, "bal_o", 2)


def test_the_name_is_readable_and_an_explicit_paper_lr_is_the_same_run():
    config = TrainConfig(dataset="cora", layers=10)
    name = run_name(config, "bal_x", 3)
    assert name.startswith("cora-gat-L10-bal_x-s3-") and len(name.rsplit("-", 1)[1]) == 8
    assert run_name(dataclasses.replace(config, lr=config.learning_rate()), "bal_x", 3) == name
    assert run_name(TrainConfig(), "xavier", 0) != run_name(TrainConfig(), "xavier", 1)


@pytest.mark.parametrize("settings", [dict(lr=1), dict(balance_beta=4), dict(dropout=0),
                                      dict(residual_alpha=1), dict(logit_spread=3)])
def test_a_real_setting_given_as_an_integer_is_the_same_run_as_its_float(settings):
    as_int = TrainConfig(schemes=["bal_x"], **settings)
    as_float = TrainConfig(schemes=["bal_x"], **{k: float(v) for k, v in settings.items()})
    assert run_name(as_int, "bal_x", 0) == run_name(as_float, "bal_x", 0)
    assert run_identity(as_int, "bal_x", 0) == run_identity(as_float, "bal_x", 0)


def _record(config, scheme="xavier", seed=0):
    result = RunResult(scheme=scheme, seed=seed, test_acc=0.5, best_val_acc=0.5, best_epoch=0,
                       epochs=1, seconds=0.1, stop_reason="max_epochs", train_loss=[1.0],
                       val_acc=[0.5])
    return run_record(config, result, "cpu")


def test_a_field_added_later_with_its_old_default_keeps_existing_run_files(tmp_path, monkeypatch):
    old = TrainConfig(hidden=8)
    path = tmp_path / f"{run_name(old, 'xavier', 0)}.json"
    path.write_text(json.dumps(_record(old)))

    @dataclasses.dataclass
    class Later(TrainConfig):  # a field another team adds, defaulting to the old behaviour
        dropout: float = 0.0

    monkeypatch.setattr(runkey, "TrainConfig", Later)
    same = Later(hidden=8)
    assert run_name(same, "xavier", 0) == path.stem
    assert load_run(path, same, "xavier", 0)["config"]["hidden"] == 8
    assert run_name(Later(hidden=8, dropout=0.5), "xavier", 0) != path.stem


def test_a_result_field_added_later_keeps_existing_run_files(tmp_path):
    config = TrainConfig(hidden=8)
    record = _record(config)
    for added in ("metric", "rebalance_history"):  # fields RunResult gained later
        del record[added]
    path = tmp_path / f"{run_name(config, 'xavier', 0)}.json"
    path.write_text(json.dumps(record))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RunFileWarning)
        loaded = load_run(path, config, "xavier", 0)
    result = runfiles.result_of(loaded)
    assert (result.metric, result.rebalance_history) == ("accuracy", [])
    assert path.exists() and not (tmp_path / "rejected").exists()


def test_a_changed_default_sets_the_old_file_aside(tmp_path, monkeypatch):
    old = TrainConfig()
    path = tmp_path / f"{run_name(old, 'xavier', 0)}.json"
    path.write_text(json.dumps(_record(old)))

    @dataclasses.dataclass
    class Wider(TrainConfig):
        hidden: int = 128

    monkeypatch.setattr(runkey, "TrainConfig", Wider)  # the defaults the key is read against
    assert run_name(Wider(), "xavier", 0) == path.stem  # same name: the content decides
    with pytest.warns(RunFileWarning, match=r"hidden=64 \(now 128\)"):
        assert load_run(path, Wider(), "xavier", 0) is None
    assert not path.exists() and (tmp_path / "rejected" / path.name).exists()


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"dataset": "cora"}', "\udcff"])
def test_a_corrupted_or_foreign_run_file_is_named_set_aside_and_rerun(tmp_path, content):
    assert main(["sweep", *TINY, "--out", str(tmp_path)]) == 0
    (path,) = (tmp_path / "runs").glob("*.json")
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    with pytest.warns(RunFileWarning, match=str(path)):
        assert main(["sweep", *TINY, "--out", str(tmp_path)]) == 0
    assert json.loads(path.read_text())["run_key"]["hidden"] == 4  # trained again
    rejected = list((tmp_path / "runs" / "rejected").iterdir())
    assert [p.read_bytes() for p in rejected] == [content.encode("utf-8", "surrogateescape")]


@pytest.mark.parametrize("option", [["--hidden", "5"], ["--heads", "2"], ["--lr", "0.05"],
                                    ["--conv", "gat"], ["--skip", "--layers", "3"],
                                    ["--residual-alpha", "0.2"],
                                    ["--bias"], ["--dropout", "0.1"], ["--minibatch"]])
def test_another_configuration_is_trained_not_taken_from_old_runs(tmp_path, option):
    assert main(["sweep", *TINY, "--out", str(tmp_path)]) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", RunFileWarning)
        assert main(["sweep", *TINY, *option, "--out", str(tmp_path)]) == 0
    records = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*.json")]
    assert len(records) == 2
    flag = option[0][2:].replace("-", "_")
    recorded = {json.dumps(r["config"][flag]) for r in records}
    assert len(recorded) == 2, recorded
    summary = (tmp_path / "summary.md").read_text()
    assert summary.count("### GAT on synthetic") == 1  # this sweep's configuration only


def test_summary_tables_never_mix_configurations():
    records = [_record(TrainConfig(hidden=8)), _record(TrainConfig(hidden=16))]
    tables = summary_tables(records)
    assert tables.count("### GAT on synthetic") == 2
    assert "hidden=8" in tables and "hidden=16" in tables


def test_a_cell_with_fewer_runs_than_the_tables_seeds_says_so():
    config = TrainConfig(hidden=8)
    records = [_record(config, "xavier", seed) for seed in range(3)]
    records.append(_record(config, "bal_o", 0))
    table = summary_tables(records)
    assert "3 seeds" in table
    xavier, bal_o = (next(line for line in table.splitlines() if line.startswith(f"| {s} |"))
                     for s in ("xavier", "bal_o"))
    assert "seeds]" not in xavier and "[1 of 3 seeds]" in bal_o
    assert "+- 0.0" in xavier and "50.0 +- n/a" in bal_o  # one run: no interval


def test_tables_say_how_runs_ended_and_summarise_epochs_by_median():
    config = TrainConfig(hidden=8)
    records = [_record(config, "xavier", seed) for seed in range(5)]
    for record, best, reason in zip(records, [474, 538, 657, 902, 4463],
                                    ["max_epochs"] * 3 + ["diverged", "loss_threshold"]):
        record.update(best_epoch=best, epochs_to_95=best, stop_reason=reason)
    records[0]["train_loss"] = [0.7]
    lines = summary_tables(records).splitlines()
    ending, epochs = [line for line in lines if line.startswith("| xavier |")][1:]
    assert ending == "| xavier | 1 div, 3 budget, 1 conv; loss 1 |"  # 0.7, 1, 1, 1 -> 1
    assert epochs == "| xavier | 658 [539-903] / 657 [538-902] |"  # the mean would be 1409


def test_median_quartiles():
    from dglbal.experiments.tables import median_quartiles

    assert median_quartiles([]) == "-" and median_quartiles([7]) == "7"
    assert median_quartiles([1, 2, 3, 4, 100]) == "3 [2-4]"


def test_runs_written_before_a_field_existed_share_a_table_with_runs_at_its_default():
    old, new = _record(TrainConfig(hidden=8), seed=0), _record(TrainConfig(hidden=8), seed=1)
    del old["config"]["logit_spread"]  # a field added in session 3, default 1.0
    tables = summary_tables([old, new])
    assert tables.count("### GAT on synthetic") == 1 and "logit_spread" not in tables


def test_a_run_file_written_before_balance_beta_existed_is_still_found(tmp_path):
    """Files of the committed grid predate --balance-beta: without it, the same name and
    identity (so the file is loaded, not retrained); with it, another run."""
    config = TrainConfig(dataset="cora", layers=10, hidden=8)
    old = _record(config, "bal_x", 1)
    del old["config"]["balance_beta"], old["run_key"]["balance_beta"]
    path = tmp_path / f"{run_name(config, 'bal_x', 1)}.json"
    path.write_text(json.dumps(old))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RunFileWarning)
        assert load_run(path, config, "bal_x", 1) == old
    assert runfiles.balance_beta_of(old) == 2.0  # it balanced with bal_x's own
    for beta in (2.0, 4.0):  # given, even the scheme's own value, it is another run key
        chosen = dataclasses.replace(config, balance_beta=beta)
        assert run_name(chosen, "bal_x", 1) != path.stem
        assert run_identity(chosen, "bal_x", 1)["balance_beta"] == beta
    assert run_identity(config, "bal_x", 1)["balance_beta"] is None


def test_a_chosen_beta_is_recorded_and_gets_its_own_table():
    config = TrainConfig(hidden=8, schemes=["xavier", "bal_x"])
    chosen = dataclasses.replace(config, balance_beta=4.0)
    records = [_record(config, "bal_x"), _record(chosen, "bal_x"), _record(chosen, "xavier")]
    assert [r["config"]["balance_beta"] for r in records] == [None, 4.0, 4.0]
    assert [runfiles.balance_beta_of(r) for r in records] == [2.0, 4.0, None]
    tables = summary_tables(records)
    assert tables.count("### GAT on synthetic") == 2
    assert "balance_beta=4.0" in tables and "balance_beta=None" in tables


def test_the_logit_spread_of_a_run_is_that_of_data_scaled_schemes_only():
    config = TrainConfig(hidden=8, logit_spread=0.3)
    scaled, balanced = _record(config, "bal_o_data"), _record(config, "bal_o")
    assert runfiles.logit_spread_of(scaled) == 0.3
    assert runfiles.logit_spread_of(balanced) is None  # recorded, but it scaled nothing
    del scaled["config"]["logit_spread"]  # a file written before the field existed
    assert runfiles.logit_spread_of(scaled) == DEFAULT_LOGIT_SPREAD
    assert runfiles.logit_spread_of({**scaled, "scheme": "gone_since"}) is None


def test_a_ctrl_c_during_a_sweep_keeps_the_finished_runs(tmp_path, capsys, monkeypatch,
                                                         interrupt_run_once):
    import dglbal.experiments.sweep

    argv = ["sweep", *TINY, "--seeds", "3", "--out", str(tmp_path)]
    calls = interrupt_run_once(dglbal.experiments.sweep, on_call=2)
    assert main(argv) == 130
    assert capsys.readouterr().err.strip() == (
        f"dglbal: interrupted: 1 of 3 runs finished and are kept in {tmp_path / 'runs'}; "
        "run the same command again to resume")
    assert len(list((tmp_path / "runs").glob("*.json"))) == 1
    calls.clear()
    assert main(argv) == 0 and calls == [1, 2]  # the finished run is not trained again


def _fail_writes_to(monkeypatch, part):
    """A full disk (ENOSPC) for the files whose name holds ``part``, after part of the
    temporary file was written."""
    real = pathlib.Path.write_text

    def write_text(self, text, *args, **kwargs):
        if self.name.endswith(".tmp") and part in self.name:
            real(self, text[:10], *args, **kwargs)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, text, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "write_text", write_text)


def test_a_full_disk_names_the_run_file_says_what_is_kept_and_leaves_no_temporary(
        tmp_path, capsys, monkeypatch):
    assert main(["sweep", *TINY, "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    _fail_writes_to(monkeypatch, "-s1-")  # seed 1's run file
    assert main(["sweep", *TINY, "--seeds", "3", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dglbal: error: [Errno 28] cannot write ") and "-s1-" in err, err
    assert "No space left on device" in err and "1 of 3 runs finished and are kept in" in err
    assert str(tmp_path / "runs") in err
    left = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert len(left) == 1 and left[0].endswith(".json") and "-s0-" in left[0]  # no .tmp, claim


def test_a_full_disk_while_writing_the_tables_names_the_file(tmp_path, capsys, monkeypatch):
    _fail_writes_to(monkeypatch, "summary.md")
    assert main(["sweep", *TINY, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"cannot write {tmp_path / 'summary.md'}: No space left on device" in err
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(list((tmp_path / "runs").glob("*.json"))) == 1  # the run itself is kept


@pytest.mark.parametrize("field, value", [
    ("test_acc", "0.9"), ("seed", "0"), ("train_loss", [1.0, "x"]), ("epochs", 1.5),
    ("best_epoch", True), ("rebalance_history", {}), ("epochs_to_95", None),
    ("epochs", 7)])
def test_a_run_file_with_a_wrong_field_type_is_named_and_set_aside(tmp_path, field, value):
    config = TrainConfig(hidden=8)
    path = tmp_path / f"{run_name(config, 'xavier', 0)}.json"
    record = _record(config)
    assert load_run(path, config, "xavier", 0) is None
    path.write_text(json.dumps({**record, field: value}))
    with pytest.warns(RunFileWarning, match=rf"{path} (has fields of the wrong type: {field}="
                                            r"|is inconsistent)"):
        assert load_run(path, config, "xavier", 0) is None
    assert json.loads((tmp_path / "rejected" / path.name).read_text())[field] == value


def test_a_hand_edited_run_file_never_reaches_the_tables(tmp_path):
    assert main(["sweep", *TINY, "--out", str(tmp_path)]) == 0
    (path,) = (tmp_path / "runs").glob("*.json")
    path.write_text(json.dumps({**json.loads(path.read_text()), "test_acc": "0.9"}))
    with pytest.warns(RunFileWarning, match=str(path)):
        assert main(["sweep", *TINY, "--out", str(tmp_path)]) == 0  # tables and plots work
    assert isinstance(json.loads(path.read_text())["test_acc"], float)  # trained again
    assert (tmp_path / "runs" / "rejected" / path.name).exists()  # the edit is kept


def test_a_run_listed_twice_is_counted_once_in_the_tables():
    record = _record(TrainConfig(hidden=8))
    table = summary_tables([record, dict(record)])
    row = next(line for line in table.splitlines() if line.startswith("| xavier |"))
    assert row == "| xavier | 50.0 +- n/a |" and "1 seed)" in table


def test_unscored_runs_are_counted_aside_not_averaged_as_zero():
    config = TrainConfig(hidden=8)
    scored, unscored = _record(config, seed=0), _record(config, seed=1)
    unscored.update(test_acc=None, best_val_acc=None, best_epoch=-1, stop_reason="diverged",
                    epochs=0, train_loss=[], val_acc=[])
    row = next(line for line in summary_tables([scored, unscored]).splitlines()
               if line.startswith("| xavier |"))
    assert "| 50.0 [1 diverged unscored] [" not in row  # both runs are in the cell's count
    assert row.split("|")[2].strip().startswith("50.0 +- n/a [1 diverged unscored]")


def test_the_paper_lr_given_or_left_default_is_one_table_panel():
    """The auditor's case 1: lr left to the paper's default and the same rate given with --lr
    are one run key, so one panel (not 'lr=None' and 'lr=0.1' of one seed each)."""
    default = TrainConfig(hidden=8, layers=2)
    explicit = TrainConfig(hidden=8, layers=2, lr=default.learning_rate())
    assert run_name(default, "xavier", 0) == run_name(explicit, "xavier", 0)
    tables = summary_tables([_record(default, "xavier", 0), _record(explicit, "xavier", 1)])
    assert tables.count("### GAT on synthetic") == 1 and "lr=" not in tables
    other = TrainConfig(hidden=8, layers=2, lr=default.learning_rate() / 2)
    tables = summary_tables([_record(default, "xavier", 0), _record(other, "xavier", 1)])
    assert tables.count("### GAT on synthetic") == 2


def test_depths_at_their_own_default_rates_share_one_panel():
    """The paper's rate changes with depth (0.1 at L = 2, 0.05 at L = 10): a sweep over depths
    at the default rates is one panel with a column per depth, given explicitly or not."""
    shallow = TrainConfig(hidden=8, layers=2)
    deep = TrainConfig(hidden=8, layers=10, lr=TrainConfig(layers=10).learning_rate())
    assert shallow.learning_rate() != deep.learning_rate()
    tables = summary_tables([_record(shallow, "xavier", 0), _record(deep, "xavier", 0)])
    assert tables.count("### GAT on synthetic") == 1 and "| L=2 | L=10 |" in tables


def _edited(tmp_path, **fields):
    """A finished run's file with ``fields`` edited by hand; whether load_run takes it."""
    config = TrainConfig(hidden=8, layers=2, epochs=5)
    result = RunResult(scheme="xavier", seed=0, test_acc=0.4, best_val_acc=0.5, best_epoch=1,
                       epochs=3, seconds=0.1, stop_reason="max_epochs",
                       train_loss=[1.0, 0.9, 0.8], val_acc=[0.3, 0.5, 0.45])
    record = run_record(config, result, "cpu")
    record.update(fields)
    path = tmp_path / f"{run_name(config, 'xavier', 0)}.json"
    path.write_text(json.dumps(record))
    return path, config


def test_an_unedited_record_is_reused(tmp_path):
    path, config = _edited(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RunFileWarning)
        assert load_run(path, config, "xavier", 0)["test_acc"] == 0.4


@pytest.mark.parametrize("fields, named", [
    (dict(test_acc=1.7), "test_acc=1.7"),
    (dict(test_acc=float("nan")), "test_acc=nan"),
    (dict(best_epoch=99), "best_epoch=99 of 3"),
    (dict(best_epoch=-1), "best_epoch=-1"),
    (dict(best_val_acc=0.9), "best_val_acc=0.9"),
    (dict(scheme="bal_o"), "scheme='bal_o'"),
    (dict(seed=2), "seed=2"),
    (dict(epochs=9, train_loss=[1.0] * 9, val_acc=[0.5] * 9), "epochs=9 (budget 5)"),
    (dict(val_acc=[0.3, 0.5, 1.45]), "validation score"),
    (dict(train_loss=[1.0, float("nan"), 0.8]), "training loss"),
    (dict(stop_reason="bored"), "stop_reason"),
    (dict(epochs_to_95=1), "epochs_to_95=1"),
])
def test_a_hand_edited_impossible_record_is_set_aside_naming_the_problem(tmp_path, fields,
                                                                         named):
    """The auditor's case 7: a well-typed file whose values no run produces is not reused."""
    path, config = _edited(tmp_path, **fields)
    with pytest.warns(RunFileWarning, match=re.escape(named)):
        assert load_run(path, config, "xavier", 0) is None
    assert not path.exists() and (tmp_path / "rejected" / path.name).exists()


def test_an_undefined_roc_auc_on_the_test_split_is_a_finished_run(tmp_path):
    path, config = _edited(tmp_path, test_acc=float("nan"), metric="roc_auc")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RunFileWarning)
        assert load_run(path, config, "xavier", 0) is not None


@pytest.mark.parametrize("same", [dict(batch_size=7), dict(fanout=3),
                                  dict(loss_threshold=1e-4), dict(loss_threshold=1e-4,
                                                                  batch_size=7)])
def test_settings_acting_as_their_defaults_are_the_same_run(same):
    """The auditor's case 5: --batch-size without --minibatch, or the default stop loss given
    explicitly, retrained finished runs under a new name."""
    config = TrainConfig(dataset="cora", layers=2)
    assert config.stop_loss() == 1e-4  # the dglbal protocol's on cora
    changed = dataclasses.replace(config, **same)
    assert run_name(changed, "xavier", 0) == run_name(config, "xavier", 0)
    assert run_identity(changed, "xavier", 0) == run_identity(config, "xavier", 0)
    assert summary_tables([_record(config), _record(changed, seed=1)]).count("### GAT") == 1
    for acting in (dict(batch_size=7, minibatch=True), dict(loss_threshold=1e-3)):
        other = dataclasses.replace(config, **acting)
        assert run_name(other, "xavier", 0) != run_name(config, "xavier", 0)


def test_a_run_file_written_under_its_unnormalised_name_is_reused(tmp_path):
    """Finished work is kept: a file named before the protocol's default stop loss given
    explicitly stopped entering the key is renamed and reused, not retrained."""
    given = ["--loss-threshold", "1e-5"]  # the paper protocol's on the synthetic graph
    assert main(["sweep", *TINY, *given, "--out", str(tmp_path)]) == 0
    (path,) = (tmp_path / "runs").glob("*.json")
    config = TrainConfig(dataset="synthetic", layers=2, hidden=4, epochs=2,
                         loss_threshold=1e-5, protocol="paper")
    legacy = path.with_name(f"{legacy_run_name(config, 'xavier', 0)}.json")
    assert legacy != path
    record = json.loads(path.read_text())
    record["run_key"]["loss_threshold"] = 1e-5  # as the file was written then
    legacy.write_text(json.dumps(record))
    path.unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RunFileWarning)
        assert main(["sweep", *TINY, *given, "--out", str(tmp_path)]) == 0
    assert [p.name for p in (tmp_path / "runs").glob("*.json")] == [path.name]
    assert json.loads(path.read_text())["seconds"] == record["seconds"]  # not retrained
