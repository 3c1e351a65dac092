"""Bad layer arguments and inputs are clear errors naming the argument.
DGL parity for valid input is tests/test_parity.py's job; these are the invalid ones."""
import dgl
import pytest
import torch

from dglbal.nn import GAT, GCN, GATConv, GATv2Conv, GraphConv
from dglbal.nn._checks import check_features, check_gcn_features

LAYERS = {"GATConv": lambda **kw: GATConv(5, 4, num_heads=2, **kw),
          "GATv2Conv": lambda **kw: GATv2Conv(5, 4, num_heads=2, **kw),
          "GraphConv": lambda **kw: GraphConv(5, 4, **kw)}


def _graph():
    dgl.seed(0)
    return dgl.add_self_loop(dgl.rand_graph(8, 20))


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool])
def test_integer_features_are_a_clear_error(name, dtype):
    feat = torch.ones(8, 5, dtype=dtype)
    with pytest.raises(TypeError, match=f"{name}: source features must be floating point, got "
                                        f"{dtype}"):
        LAYERS[name]()(_graph(), feat)


@pytest.mark.parametrize("name", LAYERS)
def test_float64_features_into_a_float32_layer_name_both_dtypes(name):
    with pytest.raises(TypeError, match=f"{name}: source features are torch.float64 but the "
                                        "layer's weights are torch.float32"):
        LAYERS[name]()(_graph(), torch.randn(8, 5, dtype=torch.float64))
    LAYERS[name]().double()(_graph(), torch.randn(8, 5, dtype=torch.float64))  # matching: fine


@pytest.mark.parametrize("name", LAYERS)
def test_float16_features_on_the_cpu_name_the_dtype_and_device(name):
    """DGL's CPU kernels take bfloat16, float32 and float64 only (a raw DGLError otherwise)."""
    with pytest.raises(TypeError, match=f"{name}: source features are torch.float16 on the "
                                        "CPU, which DGL's CPU kernels do not take .*bfloat16"):
        LAYERS[name]().half()(_graph(), torch.randn(8, 5).half())
    out = LAYERS[name]().bfloat16()(_graph(), torch.randn(8, 5).bfloat16())  # bfloat16: fine
    assert out.dtype == torch.bfloat16


@pytest.mark.parametrize("name", ["GATConv", "GATv2Conv"])
def test_cpu_autocast_to_float16_is_refused_by_the_attention_layers(name):
    with torch.autocast("cpu", dtype=torch.float16):
        with pytest.raises(TypeError, match=f"{name}: CPU autocast with dtype torch.float16"):
            LAYERS[name]()(_graph(), torch.randn(8, 5))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.isfinite(LAYERS[name]()(_graph(), torch.randn(8, 5)).float()).all()


def test_the_float16_check_is_for_the_cpu_only():
    """float16 features off the CPU (CUDA, here the meta device) pass the checks."""
    feat = torch.empty(8, 5, dtype=torch.float16, device="meta")
    check_features(_graph(), feat, 5, 5, "GATConv", torch.float16)
    check_gcn_features(_graph(), feat, 5, "GraphConv", torch.float16, "both")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", LAYERS)
def test_float16_features_on_cuda_run(name):
    out = LAYERS[name]().half().cuda()(_graph().to("cuda"), torch.randn(8, 5).half().cuda())
    assert out.dtype == torch.float16


def test_a_float64_feature_pair_destination_is_named():
    graph = dgl.heterograph({("a", "to", "b"): ([0, 1, 2], [0, 1, 1])})
    layer = GATConv((5, 3), 4, num_heads=1)
    with pytest.raises(TypeError, match="destination features are torch.float64"):
        layer(graph, (torch.randn(3, 5), torch.randn(2, 3, dtype=torch.float64)))


def test_a_float64_model_on_float32_features_in_a_builder():
    model = GAT(5, 4, 3, num_layers=3).double()
    with pytest.raises(TypeError, match="GATv2Conv: source features are torch.float32"):
        model(_graph(), torch.randn(8, 5))


@pytest.mark.parametrize("build, message", [
    (lambda: GATConv(5, 4, num_heads=0), "GATConv: num_heads must be a positive integer, got 0"),
    (lambda: GATv2Conv(5, 4, num_heads=-2), "GATv2Conv: num_heads must be a positive integer"),
    (lambda: GATConv(5, 0, num_heads=1), "GATConv: out_feats must be a positive integer, got 0"),
    (lambda: GATv2Conv(5, -1, num_heads=1), "GATv2Conv: out_feats must be a positive integer"),
    (lambda: GraphConv(5, 0), "GraphConv: out_feats must be a positive integer, got 0"),
    (lambda: GraphConv(0, 4), "GraphConv: in_feats must be a positive integer"),
    (lambda: GATConv((5, 0), 4, num_heads=1), r"in_feats must be a positive integer, got \(5, 0\)"),
    (lambda: GATv2Conv(5, 2.5, num_heads=1), "out_feats must be a positive integer, got 2.5"),
    (lambda: GAT(5, 4, 3, num_layers=3, num_heads=0), "num_heads must be a positive integer"),
    (lambda: GAT(5, 0, 3, num_layers=3), "out_feats must be a positive integer, got 0"),
    (lambda: GAT(5, 4, 3, num_layers=2.5), "num_layers must be an integer >= 1, got 2.5"),
    (lambda: GCN(5, 4, 3, num_layers="3"), "num_layers must be an integer >= 1, got '3'"),
    (lambda: GCN(5, 4, 3, num_layers=0), "num_layers must be an integer >= 1, got 0"),
])
def test_sizes_that_are_not_positive_integers_are_refused(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize("name", ["GATConv", "GraphConv"])
@pytest.mark.parametrize("shape", [(lambda e: (e, 2)), (lambda e: (e - 1,)), (lambda e: (2, e))])
def test_edge_weight_of_the_wrong_shape_names_the_argument(name, shape):
    graph = _graph()
    weight = torch.rand(shape(graph.num_edges()))
    edges = graph.num_edges()
    with pytest.raises(ValueError, match=rf"{name}: edge_weight must have shape \({edges},\) or "
                                         rf"\({edges}, 1\)"):
        LAYERS[name]()(graph, torch.randn(8, 5), edge_weight=weight)


@pytest.mark.parametrize("name", ["GATConv", "GraphConv"])
def test_edge_weight_of_shape_e_or_e_by_1_is_accepted(name):
    graph = _graph()
    for weight in (torch.rand(graph.num_edges()), torch.rand(graph.num_edges(), 1)):
        LAYERS[name]()(graph, torch.randn(8, 5), edge_weight=weight)
    with pytest.raises(TypeError, match="edge_weight must be floating point"):
        LAYERS[name]()(graph, torch.randn(8, 5), edge_weight=torch.ones(graph.num_edges(),
                                                                         dtype=torch.int64))


@pytest.mark.parametrize("kwargs, message", [
    (dict(feat_drop=1.5), "feat_drop must be a probability in"),
    (dict(attn_drop=-0.1), "attn_drop must be a probability in"),
    (dict(negative_slope=float("nan")), "negative_slope must be a finite number"),
])
@pytest.mark.parametrize("layer", [GATConv, GATv2Conv])
def test_attention_options_are_checked(layer, kwargs, message):
    with pytest.raises(ValueError, match=f"{layer.__name__}: {message}"):
        layer(8, 4, 2, **kwargs)


def test_deep_models_check_skip_and_graph():
    with pytest.raises(TypeError, match="skip must be True or False, got 'yes'"):
        GCN(8, 4, 3, num_layers=3, skip="yes")
    with pytest.raises(TypeError, match="GAT expects a DGLGraph or a list of blocks"):
        GAT(8, 4, 3, num_layers=3)(None, torch.randn(5, 8))
    graph = dgl.add_self_loop(dgl.rand_graph(5, 10))
    with pytest.raises(TypeError, match="got tuple"):
        GAT(8, 4, 3, num_layers=2)((graph, "block"), torch.randn(5, 8))


@pytest.mark.parametrize("make", [
    lambda: GATConv((5, 6), 3, 2), lambda: GATConv((5, 5), 3, 2),
    lambda: GATv2Conv((5, 6), 3, 2),
    lambda: GATv2Conv((5, 6), 3, 2, share_weights=True, residual=True)],
    ids=["gat-5-6", "gat-5-5", "gatv2-5-6", "gatv2-shared-residual"])
def test_a_layer_built_for_a_feature_pair_refuses_one_tensor(make):
    graph = dgl.add_self_loop(dgl.rand_graph(10, 30))
    with pytest.raises(ValueError, match=r"takes a \(source, destination\) feature pair"):
        make()(graph, torch.randn(10, 5))


def test_gatconv_refuses_float64_edge_weights_into_a_float32_layer():
    """DGL fails on the mixed types; the promoted float64 output was returned silently."""
    graph = _graph()
    weight = torch.rand(graph.num_edges(), dtype=torch.float64)
    with pytest.raises(TypeError, match="GATConv: edge_weight is torch.float64 but the layer's "
                                        "weights are torch.float32"):
        LAYERS["GATConv"]()(graph, torch.randn(8, 5), edge_weight=weight)
    out = LAYERS["GATConv"]()(graph, torch.randn(8, 5), edge_weight=weight.bfloat16())
    assert out.dtype == torch.float32  # a lower precision is promoted, as in DGL
    out = LAYERS["GATConv"]().double()(graph, torch.randn(8, 5).double(), edge_weight=weight)
    assert out.dtype == torch.float64


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("alpha", [True, "0.5", None])
def test_residual_alpha_that_is_not_a_number_is_named(name, alpha):
    """True ran as alpha = 1 and '0.5' as 0.5; None failed inside float()."""
    with pytest.raises(TypeError, match=f"{name}: residual_alpha must be a number in"):
        LAYERS[name](residual_alpha=alpha)


@pytest.mark.parametrize("name", LAYERS)
def test_an_activation_that_is_not_callable_is_named_when_the_layer_is_built(name):
    """activation='relu' built, then failed in forward with "'str' object is not callable"."""
    with pytest.raises(TypeError, match=f"{name}: activation must be None or callable"):
        LAYERS[name](activation="relu")
    LAYERS[name](activation=torch.nn.ReLU())(_graph(), torch.randn(8, 5))
