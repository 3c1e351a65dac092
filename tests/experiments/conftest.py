"""Fixtures shared by the experiments tests."""
import pytest

import dglbal.experiments.protocol
from dglbal.data import finalize, make_synthetic


@pytest.fixture
def small_data(monkeypatch):
    """A 300-node graph for every dataset name (these probes are about files, not accuracy)."""
    graph = finalize(make_synthetic(num_nodes=300))
    monkeypatch.setattr(dglbal.experiments.protocol, "load_dataset", lambda *args, **kwargs: graph)
    return graph
