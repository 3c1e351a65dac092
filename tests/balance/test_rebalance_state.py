"""state_dict / load_state_dict of Rebalancer and ConservationMonitor: a run checkpointed
(model, optimizer, rebalancer, monitor) and resumed is bit-identical to the uninterrupted run;
states of another model or of another kind are refused."""
import io

import pytest
import torch
from torch import nn

import dglbal
from dglbal.balance.rebalance import Rebalancer

X = torch.linspace(-1, 1, 24, dtype=torch.float64).view(6, 4)
TARGET = torch.arange(6) % 3


def _setup(width=5):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, width), nn.ReLU(), nn.Linear(width, 6), nn.ReLU(),
                          nn.Linear(6, 3)).double()
    report = dglbal.analyze(model, X)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    return (model, optimizer, Rebalancer(model, report, every=3, sweeps=2, optimizer=optimizer),
            dglbal.ConservationMonitor(model, report))


def _train(run, steps):
    model, optimizer, rebalancer, monitor = run
    for _ in range(steps):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(X), TARGET).backward()
        rebalancer.step()
        monitor.record()
        optimizer.step()


def _checkpoint(run):
    buffer = io.BytesIO()
    torch.save([part.state_dict() for part in run], buffer)
    buffer.seek(0)
    return torch.load(buffer)


def test_a_resumed_run_is_bit_identical_to_the_uninterrupted_one():
    whole = _setup()
    _train(whole, 4)  # calls 1 and 4 rebalance; the checkpoint falls between two rebalances
    saved = _checkpoint(whole)
    _train(whole, 7)
    resumed = _setup()
    for part, state in zip(resumed, saved):
        part.load_state_dict(state)
    _train(resumed, 7)
    assert all(torch.equal(p, q) for p, q in zip(whole[0].parameters(), resumed[0].parameters()))
    assert whole[2].history == resumed[2].history and len(whole[2].history) == 4
    assert whole[2].calls == resumed[2].calls == 11
    assert torch.equal(whole[2].last_factors, resumed[2].last_factors)
    assert whole[3].history == resumed[3].history and len(whole[3].history["c"]) == 11
    assert whole[3].c_drift() == resumed[3].c_drift()


def test_without_the_rebalancer_state_the_run_diverges():
    """The test above can fail: a fresh rebalancer restarts the schedule."""
    whole = _setup()
    _train(whole, 4)
    saved = _checkpoint(whole)
    _train(whole, 7)
    resumed = _setup()
    for part, state in zip(resumed[:2], saved[:2]):
        part.load_state_dict(state)
    _train(resumed, 7)
    assert not all(torch.equal(p, q)
                   for p, q in zip(whole[0].parameters(), resumed[0].parameters()))


@pytest.mark.parametrize("which", [2, 3])
def test_a_state_of_another_model_is_refused(which):
    state = _setup(width=5)[which].state_dict()
    other = _setup(width=7)[which]
    with pytest.raises(ValueError, match="saved for another model.*'0.weight'"):
        other.load_state_dict(state)


@pytest.mark.parametrize("which", [2, 3])
def test_a_state_of_another_kind_is_refused(which):
    run = _setup()
    with pytest.raises(ValueError, match="missing keys"):
        run[which].load_state_dict(run[1].state_dict())
    with pytest.raises(TypeError, match="expects the dict"):
        run[which].load_state_dict([1, 2])
    state = run[which].state_dict()
    state["extra"] = 1
    with pytest.raises(ValueError, match=r"unexpected keys \['extra'\]"):
        run[which].load_state_dict(state)


def test_a_negative_call_count_is_refused():
    run = _setup()
    state = run[2].state_dict()
    state["calls"] = -1
    with pytest.raises(ValueError, match="calls must be an integer >= 0"):
        run[2].load_state_dict(state)


@pytest.mark.parametrize("which, key, value, message", [
    (2, "history", "x", "history must be a list of dicts"),
    (2, "parameters", 5, "malformed 'parameters'"),
    (3, "records", {"c": []}, "records must be a dict with keys"),
    (3, "initial", {"0.weight": 3}, "initial must hold the starting values"),
    (3, "num_groups", 99, "saved for another model"),
])
def test_a_malformed_state_is_refused(which, key, value, message):
    run = _setup()
    state = run[which].state_dict()
    state[key] = value
    with pytest.raises(ValueError, match=message):
        run[which].load_state_dict(state)
