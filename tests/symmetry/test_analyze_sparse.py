"""torch's sparse tensors in the analyser: a GCN with a torch sparse adjacency (COO or CSR,
``torch.sparse.mm``, ``addmm``, ``torch.mm``, ``spmm``, ``@``) gets exactly the groups of its
dense twin; sparse tensors made from parameters carry exponents soundly; sparse buffers,
sparse parameters and in-place writes are handled."""
import pickle

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import dglbal
from dglbal.testing import check_noether, check_rescale_invariance, check_symmetries
from dglbal.testing.graphs import input_sets


def _adjacency(graph, layout):
    """The row-normalised adjacency with self-loops, dense or sparse."""
    n = graph.num_nodes()
    src, dst = graph.edges()
    loops = torch.arange(n)
    index = torch.stack([torch.cat([dst, loops]), torch.cat([src, loops])])
    values = torch.ones(index.shape[1], dtype=torch.float64)
    adj = torch.sparse_coo_tensor(index, values, (n, n)).coalesce()
    adj = torch.sparse_coo_tensor(adj.indices(), adj.values() / torch.sparse.sum(adj, 1)
                                  .to_dense()[adj.indices()[0]], (n, n)).coalesce()
    return {"dense": adj.to_dense(), "coo": adj, "csr": adj.to_sparse_csr()}[layout]


PRODUCTS = {
    "sparse.mm": lambda a, h: torch.sparse.mm(a, h),
    "sparse.addmm": lambda a, h: torch.sparse.addmm(torch.zeros_like(h), a, h),
    "mm": torch.mm,
    "spmm": torch.spmm,
    "matmul": lambda a, h: a @ h,
}


class GCN(nn.Module):
    """Three layers A relu(A relu(A X W1) W2) W3, the adjacency in ``layout``."""

    def __init__(self, layout, product):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(5, 6), nn.Linear(6, 4), nn.Linear(4, 3)])
        self.layout, self.product = layout, PRODUCTS[product]

    def forward(self, graph, x):
        adj = _adjacency(graph, self.layout).to(x.dtype)
        h = x
        for i, layer in enumerate(self.layers):
            h = self.product(adj, layer(h))
            h = F.relu(h) if i < len(self.layers) - 1 else h
        return h


def _same_groups(report, twin):
    assert [g.name for g in report.groups] == [g.name for g in twin.groups]
    for mine, theirs in zip(report.groups, twin.groups):
        for name in twin.parameter_order:
            assert torch.equal(mine.exponents(name), theirs.exponents(name))


@pytest.mark.parametrize("layout,product", [
    ("coo", "sparse.mm"), ("csr", "sparse.mm"), ("coo", "sparse.addmm"), ("coo", "mm"),
    ("coo", "spmm"), ("csr", "matmul")])
def test_sparse_adjacency_gcn_has_the_groups_of_its_dense_twin(layout, product):
    twin = check_symmetries(GCN("dense", "matmul"), 5, 10)
    report = check_symmetries(GCN(layout, product), 5, 10, complete=False)
    _same_groups(report, twin)
    assert report.unsupported == [] and report.notes == []


class LearnedEdgeWeights(nn.Module):
    """A sparse adjacency whose values are parameters (relu(w) per edge), normalised by a
    sparse row sum, read back with ``values()``."""

    def __init__(self, read_values=False):
        super().__init__()
        self.a, self.b = nn.Linear(5, 4), nn.Linear(4, 3)
        self.w = nn.Parameter(torch.rand(512) + 0.5)
        self.read_values = read_values

    def forward(self, graph, x):
        src, dst = graph.edges()
        weights = F.relu(self.w[graph.edges(form="eid") % len(self.w)])
        adj = torch.sparse_coo_tensor(torch.stack([dst, src]), weights,
                                      (graph.num_nodes(),) * 2).coalesce()
        h = torch.sparse.mm(adj, F.relu(self.a(x)))
        if self.read_values:  # values, and the structure (which carries no exponent)
            again = torch.sparse_coo_tensor(adj.indices(), adj.values(), adj.shape)
            h = h * again.coalesce().values().sum() / adj._nnz()
        return self.b(h)


@pytest.mark.parametrize("read_values", [False, True])
def test_sparse_values_from_parameters_share_one_exponent(read_values):
    """The stored values sit at data-chosen positions: one common exponent of w (traded
    against b's columns), next to the 4 neurons."""
    model = LearnedEdgeWeights(read_values).double()
    graph, x = input_sets(5, count=1, num_nodes=9, seed=99)[0]
    report = dglbal.analyze(model, graph, x)
    check_rescale_invariance(model, graph, x, report=report)
    check_noether(model, graph, x, report=report)
    assert report.unsupported == [] and len(report.groups) == 5
    w_groups = [g for g in report.groups if "w" in g.parameters]
    assert len(w_groups) == 1 and "b.weight" in w_groups[0].parameters
    exponents = w_groups[0].exponents("w")
    assert torch.all(exponents == exponents[0]) and exponents[0] != 0


def test_sparse_softmax_over_parameter_scores_is_a_gate():
    class SparseAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(5, 4), nn.Linear(4, 3)
            self.q, self.k = nn.Linear(5, 2), nn.Linear(5, 2)

        def forward(self, graph, x):
            src, dst = graph.edges()
            logits = (self.q(x)[dst] * self.k(x)[src]).sum(-1)
            scores = torch.sparse_coo_tensor(torch.stack([dst, src]), logits,
                                             (graph.num_nodes(),) * 2)
            attention = torch.sparse.softmax(scores, 1)
            return self.b(torch.sparse.mm(attention, F.relu(self.a(x))))

    report = check_symmetries(SparseAttention(), 5, complete=False)
    assert len(report.groups) == 4 + 2  # the neurons, and the q / k trades
    assert report.gates == ["q.weight", "q.bias", "k.weight", "k.bias"]


def test_sparse_buffer_with_in_place_writes_is_analysed_and_left_as_found():
    """A sparse adjacency kept as a buffer, and in-place ops on dense tensors: the trace looks
    at a sparse tensor's values and indices for shared memory (it has no storage)."""
    graph, x = input_sets(5, count=1, num_nodes=9, seed=99)[0]

    class Buffered(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("adj", _adjacency(graph, "coo"))
            self.a, self.b = nn.Linear(5, 4), nn.Linear(4, 3)

        def forward(self, graph, x):
            h = torch.sparse.mm(self.adj, self.a(x))
            h.relu_()
            h *= 2.0
            return self.b(h)

    model = Buffered().double()
    before = model.adj.clone()
    report = dglbal.analyze(model, graph, x)
    assert len(report.groups) == 4 and report.unsupported == []
    assert torch.equal(model.adj.to_dense(), before.to_dense())
    check_rescale_invariance(model, graph, x, report=report)


def test_sparse_parameter_is_held_as_data_and_named():
    """Rescaling acts on dense parameters: a sparse one is not rescaled (exponent 0)."""
    graph, x = input_sets(5, count=1, num_nodes=9, seed=99)[0]

    class SparseWeight(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(5, 4), nn.Linear(4, 3)
            self.s = nn.Parameter(_adjacency(graph, "coo"))

        def forward(self, graph, x):
            return self.b(F.relu(torch.sparse.mm(self.s, F.relu(self.a(x)))))

    model = SparseWeight().double()
    report = dglbal.analyze(model, graph, x)
    assert "s" not in report.table.entries and len(report.groups) == 4
    assert any("sparse parameter s" in u for u in report.unsupported), report.unsupported
    with torch.no_grad():
        reference = model(graph, x)
        report.rescale_(model, torch.rand(4, dtype=torch.float64) + 0.5)
        assert torch.allclose(model(graph, x), reference, rtol=1e-10, atol=1e-12)


def test_sparse_addmm_adds_its_input_as_a_sum():
    """addmm(input, A, h): input is added; a data input that is not 0 pins the product,
    named; beta = 0 ignores it."""
    graph, x = input_sets(5, count=1, num_nodes=9, seed=99)[0]

    class Residual(nn.Module):
        def __init__(self, beta):
            super().__init__()
            self.a, self.b = nn.Linear(5, 5), nn.Linear(5, 3)
            self.beta = beta

        def forward(self, graph, x):
            adj = _adjacency(graph, "coo").to(x.dtype)
            return self.b(torch.sparse.addmm(x, adj, F.relu(self.a(x)), beta=self.beta))

    pinned = check_symmetries(Residual(1.0), 5, complete=False)
    assert len(pinned.groups) == 0
    assert any("x + c" in u and u.cost for u in pinned.unsupported), pinned.unsupported
    free = check_symmetries(Residual(0.0), 5, 5)
    assert free.unsupported == []


def test_findings_pickle_with_their_parts():
    graph, x = input_sets(5, count=1, num_nodes=9, seed=99)[0]
    model = GCN("coo", "sparse.mm").double()
    model.layers[1] = nn.Sequential(nn.Linear(6, 4), nn.Tanh()).double()
    report = dglbal.analyze(model, graph, x)
    entry = next(u for u in report.unsupported if "tanh" in u)
    copied = pickle.loads(pickle.dumps(entry))
    assert copied == entry and copied.cost == entry.cost and copied.module == "layers.1.1"
