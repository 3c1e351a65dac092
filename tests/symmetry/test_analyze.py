"""dglbal.analyze: the contract, DGL's layers, plain PyTorch, message passing, bad models."""
import copy

import dgl.function as fn
import dgl.nn.pytorch as dglnn
import pytest
import torch
import torch.nn.functional as F
from dgl.nn.functional import edge_softmax
from torch import nn
from torch.overrides import handle_torch_function, has_torch_function

import dglbal
from dglbal.nn import GAT, GCN
from dglbal.symmetry import register_module_rule, register_op_rule
from dglbal.symmetry.rules.registry import MODULE_RULES, OP_RULES, register_dgl_rule
from dglbal.symmetry.untraced import UNSEEN
from dglbal.testing import check_complete, check_rescale_invariance, check_symmetries
from dglbal.testing.models import DGL_MODELS
from dglbal.testing.graphs import Stack, input_sets


# --- the paper's GAT ---------------------------------------------------------------------------

@pytest.mark.parametrize("num_layers,width", [(2, 4), (3, 5), (5, 3)])
def test_paper_gat_groups_are_exactly_its_hidden_neurons(num_layers, width):
    model = GAT(7, width, 3, num_layers=num_layers)
    report = dglbal.analyze(model)
    assert len(report.groups) == (num_layers - 1) * width
    for group in report.groups:
        layer, channel = int(group.name.split(".")[1]), int(group.name.split()[-1])
        W, nxt = f"layers.{layer}.fc_src.weight", f"layers.{layer + 1}.fc_src.weight"
        fan_in = model.layers[layer].fc_src.weight.shape[1]
        assert group.incoming.keys() == {W}
        assert group.incoming[W].tolist() == list(range(channel * fan_in, (channel + 1) * fan_in))
        assert group.outgoing.keys() == {f"layers.{layer}.attn", nxt}
        assert group.outgoing[f"layers.{layer}.attn"].tolist() == [channel]
        rows_next = model.layers[layer + 1].fc_src.weight.shape[0]
        assert group.outgoing[nxt].tolist() == [k * width + channel for k in range(rows_next)]
        exps = group.exponents(W)
        assert exps.shape == model.layers[layer].fc_src.weight.shape
        assert set(exps.unique().tolist()) == {0.0, 1.0}
    assert report.gates == [f"layers.{i}.attn" for i in range(num_layers)]


def test_report_prints_groups_per_layer_and_rescale_validates():
    report = dglbal.analyze(GAT(6, 4, 2, num_layers=3, conv="gat"))
    text = str(report)
    assert "8 rescale groups" in text and "layers.0.fc" in text and "layers.1.fc" in text
    with pytest.raises(ValueError, match="one lambda per group"):
        report.rescale_(GAT(6, 4, 2, num_layers=3, conv="gat"), torch.ones(3))
    with pytest.raises(ValueError, match="positive"):
        report.rescale_(GAT(6, 4, 2, num_layers=3, conv="gat"), -torch.ones(8))


# --- DGL's own layers ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", DGL_MODELS)
def test_dgl_layers(name):
    make, groups = DGL_MODELS[name]
    report = check_symmetries(make(), 5, groups)
    assert report.unsupported == []


def test_graphconv_with_edge_weights():
    class Weighted(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = dglnn.GraphConv(5, 4, norm="none"), dglnn.GraphConv(4, 3)

        def forward(self, graph, x):
            w = torch.arange(graph.num_edges(), dtype=x.dtype) % 3 + 1.0
            return self.b(graph, F.relu(self.a(graph, x, edge_weight=w)), edge_weight=w)

    check_symmetries(Weighted(), 5, 4)


# --- dglbal's layers and builders ------------------------------------------------------------

@pytest.mark.parametrize("make,groups", [
    (lambda: GAT(5, 3, 2, num_layers=3, num_heads=2, bias=True), 12),
    (lambda: GAT(5, 4, 2, num_layers=3, share_weights=False, residual_alpha=0.2), 8),
    (lambda: GAT(5, 4, 2, num_layers=4, conv="gat", skip=True), 4),
    (lambda: GCN(5, 4, 2, num_layers=3, bias=True, residual_alpha=0.3), 8),
])
def test_dglbal_models(make, groups):
    check_symmetries(make(), 5, groups)


# --- plain PyTorch around graph layers -----------------------------------------------------------

class MixedTorch(nn.Module):
    """Sequential heads, LeakyReLU, PReLU, Identity, Dropout, views, cat and residual adds."""

    def __init__(self):
        super().__init__()
        self.conv = dglnn.GATConv(5, 3, 2)
        self.mlp = nn.Sequential(nn.Linear(6, 6), nn.LeakyReLU(0.1), nn.Dropout(0.0), nn.Identity())
        self.act = nn.PReLU()
        self.side = nn.Linear(5, 6, bias=False)
        self.extra = nn.Linear(5, 4)
        self.out = nn.Linear(10, 4)

    def forward(self, graph, x):
        h = self.act(self.conv(graph, x).view(x.shape[0], -1)) + self.side(x)
        h = self.mlp(h) + h
        z = torch.cat([h, F.relu(self.extra(x))], dim=1)
        return self.out(z).reshape(-1, 2, 2).sum(1)  # sum over two output "heads"


def test_plain_torch_ops():
    report = check_symmetries(MixedTorch(), 5)
    assert len(report.groups) > 0 and report.unsupported == []


class Products(nn.Module):
    """Two hidden ReLU layers h and k and parameters for a product ``form(m, h, k)``."""

    def __init__(self, form):
        super().__init__()
        self.a, self.c, self.b = nn.Linear(5, 4), nn.Linear(5, 4), nn.Linear(4, 3)
        self.w, self.v, self.u, self.t = (nn.Parameter(torch.randn(*s))
                                          for s in ((4, 4), (4,), (1,), (2, 4, 2)))
        self.register_buffer("two", torch.tensor(2.0))
        self.form = form

    def forward(self, graph, x):
        return self.b(self.form(self, F.relu(self.a(x)), F.relu(self.c(x))))


# Each product, and its twin written with ops that had rules before. (The black box of
# check_complete rescales rows and columns of matrices, not their entries: prod's exponents,
# entry by entry, are measured on t, a 3-D parameter.)
PRODUCTS = {
    "mv": (lambda m, h, k: h * torch.mv(h, m.v)[:, None], lambda m, h, k: h * (h @ m.v)[:, None]),
    "Tensor.mv": (lambda m, h, k: h * m.w.mv(k.sum(0)), lambda m, h, k: h * (m.w @ k.sum(0))),
    "dot": (lambda m, h, k: h * torch.dot(k.sum(0), m.v), lambda m, h, k: h * (k.sum(0) @ m.v)),
    "outer": (lambda m, h, k: torch.outer(h[:, 0], m.v) + h, lambda m, h, k: h[:, :1] * m.v + h),
    "ger": (lambda m, h, k: torch.ger(k[:, 1], m.v) + k, lambda m, h, k: k[:, 1:2] * m.v + k),
    "inner": (lambda m, h, k: torch.inner(h, m.w), lambda m, h, k: F.linear(h, m.w)),
    "inner_vector": (lambda m, h, k: h * torch.inner(k, m.v)[:, None],
                     lambda m, h, k: h * (k @ m.v)[:, None]),
    "inner_scalar": (lambda m, h, k: torch.inner(h, m.u[0]), lambda m, h, k: h * m.u[0]),
    "tensordot": (lambda m, h, k: torch.tensordot(h, m.w, dims=1), lambda m, h, k: h @ m.w),
    "tensordot_lists": (lambda m, h, k: torch.tensordot(h, m.w, dims=([1], [1])),
                        lambda m, h, k: h @ m.w.T),
    "tensordot_outer": (lambda m, h, k: torch.tensordot(h[:, 0], m.v, dims=0) + h,
                        lambda m, h, k: h[:, :1] * m.v + h),
    "tensordot_all": (lambda m, h, k: h * torch.tensordot(k[:4], m.w, dims=2),
                      lambda m, h, k: h * (k[:4] * m.w).sum()),
    "tril": (lambda m, h, k: h @ torch.tril(m.w), lambda m, h, k: h @ (m.w * torch.ones(
        4, 4, dtype=h.dtype).tril())),
    "triu": (lambda m, h, k: torch.triu(h) + k,
             lambda m, h, k: h * torch.ones(h.shape, dtype=h.dtype).triu() + k),
    "addcmul": (lambda m, h, k: torch.addcmul(h, k, m.v, value=0.5),
                lambda m, h, k: h + 0.5 * k * m.v),
    "addcmul_zero_value": (lambda m, h, k: torch.addcmul(k, h, h, value=0) + h,
                           lambda m, h, k: k + h),
    "addcdiv": (lambda m, h, k: h.addcdiv(k, m.v), lambda m, h, k: h + k / m.v),
    "addmv": (lambda m, h, k: h * torch.addmv(m.u, k, m.v)[:, None],
              lambda m, h, k: h * (m.u + k @ m.v)[:, None]),
    "addr": (lambda m, h, k: torch.addr(h, k.sum(1), m.v), lambda m, h, k: h + k.sum(
        1)[:, None] * m.v),
    "baddbmm": (lambda m, h, k: torch.baddbmm(h[None], k[None], m.w[None])[0],
                lambda m, h, k: h + k @ m.w),
    "baddbmm_zero_beta": (lambda m, h, k: (k * k)[None].baddbmm(h[None], m.w[None], beta=0)[
        0] + k, lambda m, h, k: h @ m.w + k),
    "addbmm": (lambda m, h, k: torch.addbmm(h, torch.stack([h, k]), torch.stack([m.w, m.w])),
               lambda m, h, k: h + h @ m.w + k @ m.w),
    "prod": (lambda m, h, k: h * m.v.prod(), lambda m, h, k: h * m.v[0] * m.v[1] * m.v[2] * m.v[
        3]),
    "prod_dim": (lambda m, h, k: h * torch.prod(m.t, 0)[:, 0], lambda m, h, k: h * (
        m.t[0] * m.t[1])[:, 0]),
    "prod_keepdim": (lambda m, h, k: h * m.t.prod(2, keepdim=True).sum(0)[:, 0],
                     lambda m, h, k: h * (m.t[..., 0] * m.t[..., 1]).sum(0)),
    "pow_buffer": (lambda m, h, k: h ** m.two + k, lambda m, h, k: h ** 2 + k),
    "pow_tensor": (lambda m, h, k: torch.pow(h, torch.tensor(3.0)), lambda m, h, k: h ** 3),
}


def _analysed(form):
    with torch.random.fork_rng():  # the same parameters every run; later tests' draws unchanged
        torch.manual_seed(0)
        model = Products(form).double()
    return model, dglbal.analyze(model, *input_sets(5, count=1, num_nodes=9, seed=99)[0])


@pytest.mark.parametrize("name", PRODUCTS)
def test_products_are_exact_symmetries_at_far_scales(name):
    """Each group, alone and with the others, at lambda = 1e-3 and 1e3 (theta_k *= lambda **
    e_k, by hand), on graphs other than the analysed one."""
    model, report = _analysed(PRODUCTS[name][0])
    assert report.unsupported == [] and report.groups
    for graph, x in input_sets(5, count=2):
        check_rescale_invariance(model, graph, x, report=report)
        with torch.no_grad():
            reference = model(graph, x)
            for alone in [[g] for g in report.groups] + [report.groups]:
                for lam in (1e-3, 1e3):
                    scaled = copy.deepcopy(model)
                    for group in alone:
                        for key, p in scaled.named_parameters():
                            p.mul_(lam ** group.exponents(key))
                    assert torch.allclose(scaled(graph, x), reference, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name", PRODUCTS)
def test_products_keep_every_group_of_their_twins(name):
    form, twin = PRODUCTS[name]
    model, report = _analysed(form)
    assert len(report.groups) == len(_analysed(twin)[1].groups)
    check_complete(model, input_sets(5, count=3), report=report)


def test_weight_shared_between_layers_gets_exact_exponents():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Linear(3, 3, bias=False)
            self.head = nn.Linear(3, 2, bias=False)
            self.first = nn.Linear(4, 3, bias=False)

        def forward(self, graph, x):
            h = F.relu(self.first(x))
            h = F.relu(self.inner(h))
            h = F.relu(self.inner(h))  # the same weight again
            return self.head(h)

    torch.manual_seed(0)  # some draws leave every ReLU dead: all-zero outputs, no check
    report = check_symmetries(Shared(), 4)
    # Besides the 3 neurons of `first`, one group scales `inner` by lambda: the head then
    # sees lambda ** 2 and takes lambda ** -2.
    assert len(report.groups) == 4
    values = {v for g in report.groups for v in g.exponents("head.weight").unique().tolist()}
    assert -2.0 in values


class UserMessagePassing(nn.Module):
    """Hand-written attention with update_all / apply_edges and edge_softmax."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(5, 4, bias=False)
        self.score = nn.Parameter(torch.randn(4))
        self.out = nn.Linear(4, 3)

    def forward(self, graph, x):
        with graph.local_scope():
            graph.ndata["h"] = self.proj(x)
            graph.ndata["s"] = graph.ndata["h"] * self.score
            graph.apply_edges(fn.u_dot_v("s", "h", "logit"))
            graph.apply_edges(fn.u_mul_v("h", "h", "unused"))  # never reaches the output
            graph.edata["a"] = edge_softmax(graph, graph.edata["logit"])
            graph.update_all(fn.u_mul_e("h", "a", "m"), fn.sum("m", "agg"))
            graph.update_all(fn.copy_u("h", "m"), fn.max("m", "top"))
            return self.out(F.relu(graph.ndata["agg"] + graph.ndata["top"]))


def test_user_message_passing():
    report = check_symmetries(UserMessagePassing(), 5)
    assert "score" in report.gates


# --- non-homogeneous parts -----------------------------------------------------------------------

@pytest.mark.parametrize("activation,reported", [
    (F.elu, "elu"), (F.gelu, "gelu"), (torch.tanh, "tanh"), (torch.sigmoid, "sigmoid"),
    (lambda x: torch.softmax(x, dim=1), "softmax"), (torch.erf, "erf")])
def test_non_homogeneous_ops_are_reported_and_claim_nothing(activation, reported):
    model = Stack(dglnn.GraphConv(5, 4), dglnn.GraphConv(4, 4), dglnn.GraphConv(4, 3),
                  activation=activation)
    report = check_symmetries(model, 5, 0)
    assert any(reported in u for u in report.unsupported)


@pytest.mark.parametrize("norm,reported", [(nn.LayerNorm(4), "layer_norm"),
                                           (nn.BatchNorm1d(4), "batch_norm")])
def test_normalization_breaks_the_chain_and_starts_new_neurons(norm, reported):
    class Normed(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.norm, self.b = dglnn.GraphConv(5, 4), norm, dglnn.GraphConv(4, 3)

        def forward(self, graph, x):
            return self.b(graph, F.relu(self.norm(self.a(graph, x))))

    report = check_symmetries(Normed().eval(), 5, 4, complete=False)  # invariant only up to eps
    assert any(reported in u for u in report.unsupported)
    assert all("norm.weight" in g.incoming for g in report.groups)


def test_model_without_symmetry_gives_no_groups():
    report = dglbal.analyze(nn.Linear(3, 2), torch.randn(4, 3))
    assert report.groups == [] and report.unsupported == []


def test_models_that_cannot_be_traced():
    with pytest.raises(ValueError, match="no parameters"):
        dglbal.analyze(nn.ReLU(), torch.randn(3))

    class Talky(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 3)

        def forward(self, x):
            return "done"

    with pytest.raises(TypeError, match="returned str"):
        dglbal.analyze(Talky(), torch.randn(2, 3))
    with pytest.raises(TypeError, match="pass example inputs"):
        dglbal.analyze(nn.Linear(3, 3))


def test_frozen_parameters_are_analysed_and_stay_frozen():
    model = GCN(5, 4, 2, num_layers=3)
    model.layers[1].weight.requires_grad_(False)
    assert len(dglbal.analyze(model).groups) == 8
    assert not model.layers[1].weight.requires_grad


@pytest.mark.parametrize("register,match", [
    (lambda: register_module_rule("Linear"), "'Linear' is not a torch.nn.Module subclass"),
    (lambda: register_module_rule(nn.Linear, applies=True), "applies must be callable"),
    (lambda: register_op_rule(3), "3 is not a torch function"),
    (lambda: register_op_rule(), "name at least one"),
    (lambda: register_op_rule(torch.tanh)(5), "the rule must be callable"),
    (lambda: register_dgl_rule("GSpMM"), "'GSpMM' is not a torch.autograd.Function"),
])
def test_registering_refuses_what_is_not_an_op_or_a_rule(register, match):
    with pytest.raises(TypeError, match=match):
        register()
    assert "Linear" not in MODULE_RULES and 3 not in OP_RULES


def test_custom_module_rule():
    class Square(nn.Module):  # homogeneous of degree 2: x -> x * |x|
        def forward(self, x):
            return x * x.abs()

    @register_module_rule(Square)
    def square_rule(ctx, module, args, kwargs, out):
        ctx.set_field(out, ctx.combine([(2, ctx.field(args[0]))]))

    class WithSquare(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.sq, self.b = nn.Linear(3, 4), Square(), nn.Linear(4, 2)

        def forward(self, graph, x):
            return self.b(self.sq(self.a(x)))

    report = check_symmetries(WithSquare(), 3, 4)
    assert {tuple(sorted(g.exponents("b.weight").unique().tolist())) for g in report.groups} == {
        (-2.0, 0.0)}


@pytest.mark.parametrize("gate", [True, False])
def test_user_op_rule_registered_as_a_gate(gate):
    """A user's attention normalizer registered with ``gate=True``: the attention vector that
    reaches the output only through it is a gate parameter; without the flag it is not."""
    def sharp_softmax(logits):  # seen by the tracer as one op
        if has_torch_function((logits,)):
            return handle_torch_function(sharp_softmax, (logits,), logits)
        return torch.softmax(4.0 * logits, dim=0)

    @register_op_rule(sharp_softmax, gate=gate)
    def sharp_softmax_rule(ctx, func, args, kwargs, out):
        ctx.require_zero(ctx.field(args[0]))
        ctx.set_field(out, None)

    class NodeAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj, self.out = nn.Linear(5, 4), nn.Linear(4, 3)
            self.score = nn.Parameter(torch.randn(4))

        def forward(self, graph, x):
            h = F.relu(self.proj(x))
            return self.out(sharp_softmax(h @ self.score)[:, None] * h)

    report = check_symmetries(NodeAttention(), 5, 4)
    assert report.unsupported == []
    assert report.gates == (["score"] if gate else [])


def test_rows_written_into_zeros_keep_their_channels():
    """buffer[idx] = h into a zero tensor (DGL's pad_packed_tensor): the rows land where data
    says, but every channel keeps an exponent of its own."""
    class Padded(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 4), nn.Linear(4, 2)

        def forward(self, graph, x):
            h = F.relu(self.a(x))
            padded = h.new_zeros(2 * h.shape[0], h.shape[1])
            padded[torch.arange(h.shape[0]) * 2] = h
            return self.b(padded)

    check_symmetries(Padded(), 3, 4)


def test_python_slices_are_replayed_from_autograd():
    """x[:, :3] with Python ints bypasses torch's function modes; it must still be traced."""
    class Sliced(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.c = nn.Linear(5, 6), nn.Linear(3, 2), nn.Linear(4, 2)

        def forward(self, graph, x):
            h = F.relu(self.a(x))
            return self.b(h[:, :3]) + self.c(h[:, 2:][:, None][:, 0])

    report = check_symmetries(Sliced(), 5, 6)
    assert report.unsupported == []


class _Untraced(torch.autograd.Function):
    """A custom op the tracer cannot see, like a compiled kernel."""

    @staticmethod
    def forward(ctx, x):
        with torch._C.DisableTorchFunction():
            return x * 2.0

    @staticmethod
    def backward(ctx, grad):
        return grad * 2.0


def test_untraced_op_holds_its_inputs_and_keeps_what_made_them():
    class WithKernel(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.out = dglnn.GATConv(5, 4, 2), nn.Linear(8, 3)

        def forward(self, graph, x):
            return _Untraced.apply(self.out(F.relu(self.conv(graph, x).flatten(1))))

    report = check_symmetries(WithKernel(), 5, 8)
    assert report.unsupported == [f"untraced op _UntracedBackward (run where the trace cannot "
                                  f"see: {UNSEEN})"]
    assert report.gates == ["conv.attn_l", "conv.attn_r"]


class _VmapSide(nn.Module):
    """A ReLU layer read twice: by a traced head, and per node inside ``torch.func.vmap``,
    squared (no symmetry of ``a`` survives the side branch)."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(4, 5), nn.Linear(5, 2), nn.Linear(5, 2)

    def forward(self, x):
        side = torch.func.vmap(lambda row: self.c(torch.relu(self.a(row)) ** 2))(x)
        return self.b(torch.relu(self.a(x))) + side


def test_ops_inside_vmap_are_held_not_misread():
    """Ops on vmap's batched tensors see one sample's shapes: the rules once failed on them
    (RuleError quoting "Cannot access storage of BatchedTensorImpl"). They are not recorded;
    what vmap returns is an untraced tensor, whose sources are held at exponent 0 and named.
    The walk to those sources once lost branches (a freed autograd node's id taken by a new
    one looked already walked): ``a`` was missed and its 5 channels reported, a false
    symmetry that changed the outputs by 1.4."""
    torch.manual_seed(0)
    model, x = _VmapSide().double(), torch.randn(6, 4, dtype=torch.float64)
    report = dglbal.analyze(model, x)
    assert report.groups == [] and len(report.parameter_order) == 6
    assert any("torch.func.vmap" in str(u) and "a.weight: 5" in str(u)
               for u in report.unsupported), report.unsupported


class _TransformUnderNoGrad(nn.Module):
    """A ReLU layer whose output is divided by a per-node scale computed by a ``torch.func``
    transform under ``no_grad``: what the transform returns has no autograd history."""

    def __init__(self, transform):
        super().__init__()
        self.a, self.b = nn.Linear(4, 5), nn.Linear(5, 2)
        self.transform = transform

    def forward(self, x):
        h = torch.relu(self.a(x))
        with torch.no_grad():
            scale = self.transform(h)
        return self.b(h / (1.0 + scale))


@pytest.mark.parametrize("transform", [
    lambda h: torch.func.vmap(lambda row: (row * row).sum())(h)[:, None],
    lambda h: torch.func.grad(lambda t: (t ** 3).sum())(h)])
def test_torch_func_transforms_under_no_grad_hold_what_they_read(transform):
    """Under ``no_grad`` what vmap or grad returns has no autograd history: it was read as
    data and the 5 channels of ``a`` were reported, a false symmetry (outputs changed by
    0.2 to 2 when rescaled). The ops inside a transform now hold what they read."""
    torch.manual_seed(0)
    model, x = _TransformUnderNoGrad(transform).double(), torch.randn(6, 4, dtype=torch.float64)
    report = dglbal.analyze(model, x)
    assert report.groups == []
    assert any("inside torch.func.vmap or grad" in str(u) and "a: 5" in str(u)
               for u in report.unsupported), report.unsupported
    check_rescale_invariance(model, torch.randn(9, 4, dtype=torch.float64), report=report,
                             trials=4)


class _GradInside(nn.Module):
    """Two ReLU layers: ``d``'s neurons reach the output through traced ops, ``a``'s also
    through ``torch.func.grad`` (the gradient of a cubic: their squares)."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 3), nn.Linear(3, 2)
        self.d, self.e = nn.Linear(4, 3), nn.Linear(3, 2)

    def forward(self, x):
        h = torch.relu(self.a(x))
        squares = torch.func.grad(lambda t: (t ** 3).sum())(h)
        return self.b(h) + squares[:, :2] + self.e(torch.relu(self.d(x)))


def test_torch_func_grad_inside_a_forward_is_held_not_a_crash():
    """``torch.func.grad`` calls ``requires_grad_()`` on its wrapped input: the in-place
    bookkeeping read the wrapper's storage and the model failed under analysis
    (ModelRunError quoting "Cannot access storage of TensorWrapper"). What grad reads is
    held at exponent 0 and named; ``d``'s neurons stay free."""
    torch.manual_seed(0)
    model, x = _GradInside().double(), torch.randn(6, 4, dtype=torch.float64)
    report = dglbal.analyze(model, x)
    assert {group.name for group in report.groups} == {f"d channel {c}" for c in range(3)}
    assert any("a: 3" in str(u) for u in report.unsupported), report.unsupported
    check_rescale_invariance(model, torch.randn(9, 4, dtype=torch.float64), report=report,
                             trials=4)


@pytest.mark.parametrize("reduce", ["sum", "amax", "prod"])
def test_scatter_reduce_over_data_chosen_entries(reduce):
    """Sums and maxima of entries chosen by data need one common exponent; products of them
    are not homogeneous in a fixed degree: held at exponent 0 and named."""
    class Scatter(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 3), nn.Linear(1, 2)

        def forward(self, graph, x):
            h = F.relu(self.a(x))
            index = torch.zeros_like(h, dtype=torch.long)
            out = torch.zeros_like(h).scatter_reduce(1, index, h, reduce=reduce)
            return self.b(out[:, :1])

    if reduce == "prod":
        report = check_symmetries(Scatter(), 4, 0, complete=False)  # held at 0 on purpose
        assert any("scatter_reduce" in u for u in report.unsupported)
    else:
        check_symmetries(Scatter(), 4, 1)


@pytest.mark.parametrize("write", [
    lambda h: h.__setitem__(h == 0, 0.5),  # h[h == 0] = 0.5
    lambda h: h.index_fill_(0, torch.tensor([1]), 0.5),
    lambda h: h.scatter_(0, torch.zeros(1, h.shape[1], dtype=torch.long),
                         torch.ones(1, h.shape[1], dtype=h.dtype)),
], ids=["setitem", "index_fill", "scatter"])
def test_a_constant_written_at_data_chosen_positions_is_named(write):
    """A constant other than 0 written where data says holds the entries it may replace at
    exponent 0: a refusal, named like masked_fill's."""
    class Written(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 3), nn.Linear(3, 2)

        def forward(self, graph, x):
            h = F.relu(self.a(x)).clone()
            write(h)
            return self.b(h)

    report = check_symmetries(Written(), 4, 0, complete=False)
    assert any("writes a value that does not scale" in u for u in report.unsupported)
