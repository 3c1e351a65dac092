"""A model in torch.compile, DataParallel or DistributedDataParallel: balancing, the monitor and
the Rebalancer act on the wrapped module through the wrapper, with reports that name its
parameters without the wrapper's prefix (one report fits the module and every wrapper)."""
import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

import dglbal
from dglbal.nn import GAT


@pytest.fixture
def process_group(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/store", rank=0,
                            world_size=1)
    yield
    dist.destroy_process_group()


def _model():
    torch.manual_seed(4)
    return GAT(8, 8, 3, num_layers=3)


WRAPPERS = {"compile": torch.compile, "DataParallel": nn.DataParallel,
            "DataParallel(compile)": lambda m: nn.DataParallel(torch.compile(m)),
            "DDP": nn.parallel.DistributedDataParallel}


@pytest.mark.parametrize("name", list(WRAPPERS))
def test_wrapped_models_are_balanced_monitored_and_rebalanced_like_the_module(
        name, request):
    if name == "DDP":
        request.getfixturevalue("process_group")
    plain, inner = _model(), _model()
    wrapped = WRAPPERS[name](inner)
    graph, feat = plain.probe_inputs()
    report = dglbal.analyze_and_balance(wrapped, graph, feat, mode="init")
    plain_report = dglbal.analyze_and_balance(plain, graph, feat, mode="init")
    assert report.parameter_order == plain_report.parameter_order  # no wrapper prefix
    assert all(torch.equal(p, q) for p, q in zip(inner.parameters(), plain.parameters()))

    runs = []
    for model, target in ((wrapped, inner), (plain, plain)):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        monitor = dglbal.ConservationMonitor(model, plain_report)  # either report fits
        rebalancer = dglbal.Rebalancer(model, report, every=1, sweeps=2, optimizer=optimizer)
        for _ in range(3):
            optimizer.zero_grad()
            # The inner module runs the forward (no compiler needed); dglbal sees the wrapper.
            F.cross_entropy(target(graph, feat), torch.arange(len(feat)) % 3).backward()
            monitor.record()
            rebalancer.step()
            optimizer.step()
        runs.append((monitor, rebalancer))
    (monitor, rebalancer), (plain_monitor, plain_rebalancer) = runs
    assert monitor.watched == plain_monitor.watched and "." in monitor.watched[0]
    assert not monitor.watched[0].startswith(("module.", "_orig_mod."))
    assert repr(monitor.history) == repr(plain_monitor.history)
    assert rebalancer.history == plain_rebalancer.history and len(rebalancer.history) == 3
    assert all(torch.equal(p, q) for p, q in zip(inner.parameters(), plain.parameters()))
    assert torch.equal(dglbal.balance_constants(wrapped, report),
                       dglbal.balance_constants(plain, plain_report))


def test_the_rebalancer_of_a_wrapped_builder_analyses_it_from_its_probe_inputs():
    model = _model()
    rebalancer = dglbal.Rebalancer(nn.DataParallel(model))  # report=None: probe_inputs
    assert rebalancer.report.parameter_order == dglbal.analyze(model).parameter_order
