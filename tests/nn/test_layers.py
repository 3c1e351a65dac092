"""dglbal's layer extras (residual aggregation) and bad-input errors."""
import dgl
import pytest
import torch
from dgl.base import DGLError

from dglbal.nn import GATConv, GATv2Conv, GraphConv
from dglbal.testing.graphs import bipartite, homogeneous, sampled_block

LAYERS = {
    "GATv2Conv": lambda **kw: GATv2Conv(5, 3, 2, share_weights=True, **kw),
    "GATConv": lambda **kw: GATConv(5, 3, 2, **kw),
    "GraphConv": lambda **kw: GraphConv(5, 3, **kw),
}


def own_transform(layer, feat):
    """W h_v for every node: what the identity part of the aggregation contributes."""
    fc = getattr(layer, "fc", None) or getattr(layer, "fc_src", None)
    if fc is not None:
        return fc(feat).view(feat.shape[0], layer._num_heads, -1)
    return feat @ layer.weight


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("graph_kind", ["homogeneous", "block"])
def test_residual_aggregation_interpolates_with_identity(name, graph_kind):
    graph = homogeneous() if graph_kind == "homogeneous" else sampled_block()
    torch.manual_seed(0)
    feat = torch.randn(graph.num_src_nodes(), 5, dtype=torch.float64)
    plain = LAYERS[name](bias=False).double()
    alpha = 0.3
    mixed = LAYERS[name](bias=False, residual_alpha=alpha).double()
    mixed.load_state_dict(plain.state_dict())
    expected = ((1 - alpha) * plain(graph, feat)
                + alpha * own_transform(plain, feat)[: graph.num_dst_nodes()])
    torch.testing.assert_close(mixed(graph, feat), expected)
    full = LAYERS[name](bias=False, residual_alpha=1.0).double()
    full.load_state_dict(plain.state_dict())
    torch.testing.assert_close(full(graph, feat),
                               own_transform(plain, feat)[: graph.num_dst_nodes()])


@pytest.mark.parametrize("name", LAYERS)
def test_residual_aggregation_rejects_bipartite_graphs(name):
    graph = bipartite()
    feat = (torch.randn(graph.num_src_nodes(), 5), torch.randn(graph.num_dst_nodes(), 5))
    with pytest.raises(DGLError, match="bipartite"):
        LAYERS[name](residual_alpha=0.5)(graph, feat)


@pytest.mark.parametrize("name", LAYERS)
def test_residual_alpha_out_of_range(name):
    with pytest.raises(ValueError, match="residual_alpha"):
        LAYERS[name](residual_alpha=1.5)


@pytest.mark.parametrize("name", LAYERS)
def test_bad_features_raise_clear_errors(name):
    layer, graph = LAYERS[name](), homogeneous()
    n = graph.num_nodes()
    with pytest.raises(ValueError, match="width 4.*in_feats=5"):
        layer(graph, torch.randn(n, 4))
    with pytest.raises(ValueError, match="rows"):
        layer(graph, torch.randn(n + 1, 5))
    with pytest.raises(ValueError, match="must be (at least )?2-D"):
        layer(graph, torch.randn(n))
    if name != "GATv2Conv":  # (N, *, in_feats), as DGL's layers: the last width counts
        with pytest.raises(ValueError, match="width 4.*in_feats=5"):
            layer(graph, torch.randn(n, 5, 4))
        with pytest.raises(ValueError, match=r"shape \(\d+, 0, 5\) have an empty dimension"):
            layer(graph, torch.randn(n, 0, 5))  # DGL: a raw "Expect ... contiguous" error
    else:  # DGL's GATv2Conv folds the extra dimensions into rows and fails
        with pytest.raises(ValueError, match="must be 2-D"):
            layer(graph, torch.randn(n, 2, 5))
    if name != "GraphConv":  # DGL: the destination data has the wrong number of rows
        with pytest.raises(ValueError, match="pass a \\(source, destination\\) feature pair"):
            layer(bipartite(), torch.randn(bipartite().num_src_nodes(), 5))


def test_gatconv_feature_pair_extra_dimensions_must_broadcast():
    graph = bipartite()
    feat = (torch.randn(graph.num_src_nodes(), 2, 5), torch.randn(graph.num_dst_nodes(), 3, 5))
    with pytest.raises(ValueError, match="GATConv: source features of shape .* must "
                                         "broadcast"):
        GATConv(5, 3, 2)(graph, feat)


@pytest.mark.parametrize("name", LAYERS)
def test_heterographs_are_rejected(name):
    graph = dgl.heterograph({("a", "x", "a"): ([0, 1], [1, 0]), ("a", "y", "a"): ([0], [0])})
    with pytest.raises(DGLError, match="single edge type"):
        LAYERS[name]()(graph, torch.randn(2, 5))


@pytest.mark.parametrize("name", ["GATConv", "GraphConv"])
def test_edge_weight_length_is_checked(name):
    graph = homogeneous()
    with pytest.raises(ValueError, match="edge_weight"):
        LAYERS[name]()(graph, torch.randn(graph.num_nodes(), 5), edge_weight=torch.ones(3))


def test_gat_layers_run_on_cuda_when_available():
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    graph = homogeneous().to(device)
    layer = GATv2Conv(5, 3, 2, residual_alpha=0.2).to(device)
    out = layer(graph, torch.randn(graph.num_nodes(), 5, device=device))
    assert out.device.type == device.type and torch.isfinite(out).all()


@pytest.mark.parametrize("layout", ["csr", "coo"])
@pytest.mark.parametrize("out_feats,alpha", [(4, 0.0), (4, 0.3), (80, 0.0), (80, 0.3)])
@pytest.mark.parametrize("norm", ["both", "left", "right", "none"])
def test_graphconv_takes_sparse_features_as_their_dense_twin(layout, out_feats, alpha, norm):
    """Sparse node features (Cora's bag of words): the same outputs and weight gradients as
    dense ones, whether W comes before aggregation (it shrinks the features) or after. DGL's
    GraphConv fails on CSR features ('sparse_mask(): operands have incompatible sizes')."""
    graph = homogeneous(30, 90, 0)
    feat = (torch.rand(30, 50, generator=torch.Generator().manual_seed(0)) < 0.1).float()
    sparse = feat.to_sparse_csr() if layout == "csr" else feat.to_sparse()
    torch.manual_seed(0)
    conv = GraphConv(50, out_feats, norm=norm, residual_alpha=alpha)
    out = conv(graph, sparse)
    (grad,) = torch.autograd.grad(out.square().sum(), [conv.weight])
    reference = conv(graph, feat)
    (expected,) = torch.autograd.grad(reference.square().sum(), [conv.weight])
    torch.testing.assert_close(out, reference)
    torch.testing.assert_close(grad, expected)


@pytest.mark.parametrize("layout", ["csr", "coo"])
@pytest.mark.parametrize("out_feats", [4, 80])
def test_graphconv_takes_sparse_features_on_a_block(layout, out_feats):
    """A sampled block reads its destination rows off the source features: a sparse matrix
    cannot be sliced by rows, which crashed inside DGL's expand_as_pair."""
    graph = homogeneous(30, 90, 0)
    block = dgl.to_block(dgl.in_subgraph(graph, torch.arange(8)), torch.arange(8))
    generator = torch.Generator().manual_seed(0)
    feat = (torch.rand(block.num_src_nodes(), 50, generator=generator) < 0.1).float()
    sparse = feat.to_sparse_csr() if layout == "csr" else feat.to_sparse()
    conv = GraphConv(50, out_feats, norm="both")
    torch.testing.assert_close(conv(block, sparse), conv(block, feat))
