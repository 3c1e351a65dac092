"""Probe: --minibatch training is reproducible under a seed with several threads."""
import dgl
import pytest
import torch

from dglbal.data import make_synthetic
from dglbal.data._common import finalize
from dglbal.nn import GAT
from dglbal.experiments.train import seed_everything, train_node_classifier


@pytest.fixture
def two_threads():
    torch_threads, dgl_threads = torch.get_num_threads(), dgl.utils.get_num_threads()
    torch.set_num_threads(2)
    dgl.utils.set_num_threads(2)
    yield
    torch.set_num_threads(torch_threads)
    dgl.utils.set_num_threads(dgl_threads)


def _losses(graph):
    seed_everything(0)
    model = GAT(graph.ndata["feat"].shape[1], 8, 5, num_layers=3)
    out = train_node_classifier(model, graph, optimizer="adam", lr=0.01, epochs=2,
                                loss_threshold=0.0, minibatch=(16, 3))
    return out["train_loss"] + out["val_acc"]


def test_minibatch_training_is_reproducible_at_two_threads(two_threads):
    graph = finalize(make_synthetic(num_nodes=600, num_features=50))
    # Before sampling ran on one thread, the blocks (and so the losses) differed run to run.
    assert _losses(graph) == _losses(graph)
    assert dgl.utils.get_num_threads() == 2  # sampling's one thread is given back

