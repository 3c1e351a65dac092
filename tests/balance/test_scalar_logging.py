"""The monitor's and the rebalancer's scalars in a writer with add_scalar: TensorBoard's own
SummaryWriter, its event file read back; values equal to what the histories and the JSON
hold; bad writers and tags refused up front."""
import copy
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import dglbal
from dglbal.nn import GAT


@pytest.fixture(scope="module")
def base():
    torch.manual_seed(1)
    model = GAT(8, 8, 3, num_layers=3)
    return model, dglbal.analyze(model)


def _train(model, monitor, rebalancer, steps):
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    monitor.attach(optimizer)
    rebalancer.attach(optimizer)
    graph, feat = model.probe_inputs()
    labels = torch.arange(feat.shape[0]) % 3
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(model(graph, feat), labels).backward()
        optimizer.step()


def test_summary_writer_gets_the_conservation_law_and_the_rebalances(base, tmp_path):
    pytest.importorskip("tensorboard")  # the `tensorboard` extra
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter

    model, report = copy.deepcopy(base[0]), base[1]
    writer = SummaryWriter(log_dir=str(tmp_path / "tb"))
    monitor = dglbal.ConservationMonitor(model, report, writer=writer)
    rebalancer = dglbal.Rebalancer(model, report, every=2, writer=writer, tag="dyn")
    _train(model, monitor, rebalancer, steps=5)
    writer.close()
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()

    def series(tag):
        return [(e.step, e.value) for e in events.Scalars(tag)]

    def close(logged, expected):
        assert len(logged) == len(expected)
        for (step, value), (want_step, want) in zip(logged, expected):
            assert step == want_step and math.isclose(value, want, rel_tol=1e-6, abs_tol=1e-30)

    summary = json.loads(monitor.save_json(tmp_path / "monitor.json").read_text())
    close(series("conservation/c_drift_max"), list(enumerate(monitor.c_drift(), 1)))
    close(series("conservation/delta_max"), list(enumerate(summary["delta_max"], 1)))
    c = torch.tensor(monitor.history["c"], dtype=torch.float64)
    close(series("conservation/c_abs_max"), list(enumerate(c.abs().max(1).values.tolist(), 1)))
    name = monitor.watched[0]
    close(series(f"conservation/rel_grad/{name}"),
          [(i, row[name]) for i, row in enumerate(monitor.history["rel_grad"], 1)])
    close(series(f"conservation/changed/{name}"),
          [(i, row[name]) for i, row in enumerate(monitor.history["changed"], 1)])
    assert [s for s, _ in series("conservation/seconds")] == [1, 2, 3, 4, 5]
    assert all(v > 0 for _, v in series("conservation/seconds"))
    for key in ("lambda_min", "lambda_max", "imbalance_before_max", "imbalance_after_median",
                "nonfinite_entries"):
        close(series(f"dyn/{key}"), [(h["call"], h[key]) for h in rebalancer.history])
    assert [s for s, _ in series("dyn/seconds")] == [1, 3, 5]
    assert max(v for _, v in series("dyn/lambda_max")) > 1


class Recorder:
    """A writer of one's own (what an adapter to W&B or MLflow looks like)."""

    def __init__(self):
        self.rows = []

    def add_scalar(self, tag, value, step):
        self.rows.append((tag, value, step))


def test_any_object_with_add_scalar_is_a_writer_and_frozen_groups_are_left_out(base):
    model, report = copy.deepcopy(base[0]), base[1]
    writer = Recorder()
    monitor = dglbal.ConservationMonitor(model, report, writer=writer)
    first = next(p for p in model.parameters() if p.dim() >= 2)
    first.requires_grad_(False)  # its groups conserve nothing: NaN in the records
    model(*model.probe_inputs()).sum().backward()
    monitor.record()
    logged = {tag: value for tag, value, step in writer.rows if step == 1}
    assert monitor.frozen_groups
    live = [not f for f in monitor.history["frozen"][0]]
    c = torch.tensor(monitor.history["c"][0], dtype=torch.float64)[torch.tensor(live)]
    assert math.isclose(logged["conservation/c_abs_max"], float(c.abs().max()), rel_tol=1e-12)
    assert math.isfinite(logged["conservation/delta_max"])



def test_a_model_without_groups_logs_what_its_history_says():
    """No hidden neuron, no group: the writer logs 0 drift, as c_drift() and the JSON say."""
    model = torch.nn.Linear(4, 3)
    report = dglbal.analyze(model, torch.randn(5, 4))
    assert not report.groups
    writer = Recorder()
    monitor = dglbal.ConservationMonitor(model, report, writer=writer)
    model(torch.randn(5, 4)).sum().backward()
    monitor.record()
    logged = {tag: value for tag, value, _ in writer.rows}
    assert logged["conservation/c_drift_max"] == monitor.c_drift()[-1] == 0.0
    assert logged["conservation/delta_max"] == logged["conservation/delta_median"] == 0.0


def test_the_medians_are_the_medians_of_an_even_count_too():
    """The rebalancer's imbalance medians and the monitor's delta_median are the usual median
    (numpy's: the mean of the middle two of an even count), not torch.median's lower one."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 5),
                                torch.nn.ReLU(), torch.nn.Linear(5, 3)).double()
    x = torch.linspace(-1, 1, 24, dtype=torch.float64).view(6, 4)
    report = dglbal.analyze(model, x)
    writer = Recorder()
    rebalancer = dglbal.Rebalancer(model, report, sweeps=1)
    monitor = dglbal.ConservationMonitor(model, report, writer=writer)
    generator = torch.Generator().manual_seed(0)
    for p in model.parameters():  # not a gradient: delta_g != 0, a spread to take a median of
        p.grad = torch.randn(p.shape, generator=generator, dtype=p.dtype)
    monitor.record()
    (model(x) ** 2).sum().backward()
    before = rebalancer.imbalance()
    rebalancer.step()
    after = rebalancer.imbalance()
    live = torch.isfinite(before) & torch.isfinite(after)
    assert int(live.sum()) % 2 == 0 and int(live.sum()) >= 4
    record = rebalancer.history[0]
    for key, values in (("before", before), ("after", after)):
        assert math.isclose(record[f"imbalance_{key}_median"],
                            float(np.median(values[live].numpy())), rel_tol=1e-12)
    assert len(monitor.history["delta"][0]) % 2 == 0
    logged = {tag: value for tag, value, _ in writer.rows}
    delta = monitor.history["delta"][0]
    assert sorted(delta)[len(delta) // 2 - 1] < sorted(delta)[len(delta) // 2]
    assert math.isclose(logged["conservation/delta_median"], float(np.median(delta)),
                        rel_tol=1e-12)

def test_no_writer_no_sync_and_no_scalars(base):
    model, report = copy.deepcopy(base[0]), base[1]
    monitor = dglbal.ConservationMonitor(model, report)
    model(*model.probe_inputs()).sum().backward()
    monitor.record()
    assert monitor.writer is None and len(monitor.history["c"]) == 1


@pytest.mark.parametrize("cls", ["Rebalancer", "ConservationMonitor"])
def test_bad_writers_and_tags_are_refused_up_front(base, cls):
    model, report = base
    make = getattr(dglbal, cls)
    with pytest.raises(TypeError, match=f"{cls}: writer must have an add_scalar"):
        make(model, report, writer=print)
    with pytest.raises(TypeError, match=r"got the class Recorder \(pass Recorder\(...\)\)"):
        make(model, report, writer=Recorder)
    for tag in ("", "/", 3):
        with pytest.raises(ValueError, match=f"{cls}: tag must be a non-empty string"):
            make(model, report, writer=Recorder(), tag=tag)
