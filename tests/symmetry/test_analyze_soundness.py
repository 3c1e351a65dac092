"""The analyser never reports a false symmetry: paths the trace cannot see keep their
constraints, constants and discrete decisions are named, and analysis changes nothing."""
import copy

import dgl
import dgl.nn.pytorch as dglnn
import dgl.sparse as dglsp
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import dglbal
from dglbal.testing.checks import check_rescale_invariance
from dglbal.testing.graphs import input_sets
from dglbal.testing import check_symmetries


class Head(nn.Module):
    """x -> relu(a(x)) -> body -> b: the body decides what survives of a's neurons."""

    def __init__(self, body, width=4, out_width=None):
        super().__init__()
        self.a, self.b = nn.Linear(5, width), nn.Linear(out_width or width, 3)
        self.body = body

    def forward(self, graph, x):
        return self.b(self.body(self, graph, F.relu(self.a(x))))


def sound(model, named=None, noted=None):
    """Random lambdas on every reported group leave the output unchanged (float64, 1e-9);
    ``named`` is in a refusal (``report.unsupported``), ``noted`` in a note."""
    model = model.double()
    graph, x = input_sets(5, count=1, num_nodes=9, seed=99)[0]
    report = dglbal.analyze(model, graph, x)
    for other in input_sets(5, count=2):
        check_rescale_invariance(model, *other, report=report)
    if named is not None:
        assert any(named in u for u in report.unsupported), report.unsupported
    if noted is not None:
        assert any(noted in n for n in report.notes), report.notes
        assert not any(noted in u for u in report.unsupported), report.unsupported
    return report


def _sparse_adjacency(graph, values=None):
    src, dst = graph.edges()
    n = graph.num_nodes()
    if values is None:
        values = torch.ones(len(src), dtype=torch.float64)
    return dglsp.spmatrix(torch.stack([dst, src]), values, shape=(n, n)), src


def _pad_one(m, g, h):
    return F.pad(h, (0, 1), value=1.0)


def _scores_through_torchscript(m, g, h):
    A, src = _sparse_adjacency(g)
    scores = dglsp.val_like(A, h[src, 0])  # the scores only live inside a SparseMatrix
    return dglsp.softmax(scores) @ h


def _argmax_gather(m, g, h):
    return h[torch.arange(len(h)), h.argmax(1)][:, None] * h


def _comparison_mask(m, g, h):
    return torch.where((h[:, 0] > h[:, 1])[:, None], h, 2 * h)


def _knn_function(m, g, h):
    return dgl.ops.copy_u_sum(dgl.knn_graph(h, 3), h)


def _write_through_view(m, g, h):
    h = h.clone()
    h[:, :1].add_(1.0)
    return h


def _epsilon(m, g, h):
    return h / torch.sqrt((h * h).mean(0, keepdim=True) + 1e-7)


def _clamp(m, g, h):
    return h.clamp(max=2.0)


def _method_where(m, g, h):
    return h.where(h > 0, 0.0)  # x.where(cond, other), x first: ReLU again


def _cast_through_integers(m, g, h):
    return h.to(torch.int64).to(h.dtype)


def _copy_into_integers(m, g, h):
    return torch.zeros(h.shape, dtype=torch.int64).copy_(h).to(h.dtype)


def _aten_embedding(m, g, h):
    return torch.embedding(h, torch.arange(len(h)).flip(0))  # (weight, indices)


def _aten_batch_norm_on_running_statistics(m, g, h):
    mean, var = torch.full((4,), 0.5, dtype=h.dtype), torch.full((4,), 2.0, dtype=h.dtype)
    return torch.batch_norm(h, None, None, mean, var, False, 0.1, 1e-5, False)


def _normalize_by_the_count_of_nonzeros(m, g, h):
    return F.normalize(h, p=0, dim=1)


def _variance_with_unbiased_given_by_position(m, g, h):
    return h / torch.var(h, 0, True).unsqueeze(0).sqrt()


def _deep_copy(m, g, h):
    return copy.deepcopy(h.detach())


def _conjugate_transposes(m, g, h):
    return h.mH.mH + h.H.H


def _alpha_dropout_while_training(m, g, h):
    torch.manual_seed(1)
    return F.feature_alpha_dropout(h[:, :, None], 0.5, training=True)[:, :, 0]


def _branch_on_formatted_text(m, g, h):
    return h if float(format(h.max(), ".17g")) > 1.0 else 2 * h


def _maximum_given_by_keyword(m, g, h):
    return torch.max(h, other=torch.ones_like(h))


def _comparison_given_by_keyword(m, g, h):
    return h * torch.gt(h, other=1.0)


def _square_through_a_refused_view(m, g, h):
    buffer = h.clone()
    view = buffer.as_strided(buffer.shape, buffer.stride())  # no rule: held at 0, data
    view.mul_(view)  # writes h ** 2 into buffer through the view
    return buffer


def _product_over_nodes(m, g, h):
    return h * h.prod(0, keepdim=True)  # n factors: its degree would change with the graph


def _power_of_a_data_tensor(m, g, h):
    return h ** g.in_degrees().to(h.dtype).mean()


def _addcmul_in_the_deprecated_form(m, g, h):
    return torch.addcmul(h, 0.5, h, h)  # addcmul(input, value, tensor1, tensor2)


def _addcmul_with_a_traced_value(m, g, h):
    with torch.no_grad():  # a detached tensor is read as the number value
        return torch.addcmul(h, h, h, value=h[0, 0].detach())


def _addmm_written_into_its_input(m, g, h):
    with torch.no_grad():
        h = h.clone()
        return torch.addmm(h, h * h, torch.eye(4, dtype=h.dtype), out=h)


@pytest.mark.parametrize("body,named,noted", [
    (_maximum_given_by_keyword, "max", None),
    (_comparison_given_by_keyword, "gt", None),
    (_square_through_a_refused_view, "as_strided", None),
    (_method_where, None, None),
    (_cast_through_integers, "a cast to torch.int64 truncates", None),
    (_copy_into_integers, "a cast to torch.int64 truncates", None),
    (_aten_embedding, None, None),
    (_aten_batch_norm_on_running_statistics, "running statistics", None),
    (_normalize_by_the_count_of_nonzeros, None, None),
    (_variance_with_unbiased_given_by_position, None, None),
    (_deep_copy, None, None),
    (_conjugate_transposes, None, None),
    (_alpha_dropout_while_training, "alpha dropout", None),
    (_branch_on_formatted_text, "leave the trace as text", None),
    (_pad_one, None, None),
    (_scores_through_torchscript, None, None),
    (_argmax_gather, None, "argmax"),  # what the decision requires: a note
    (_comparison_mask, None, "gt"),
    (_knn_function, "trace cannot follow", None),
    (_write_through_view, None, None),
    (_epsilon, "constant", None),
    (_clamp, "clamp", None),
    (_product_over_nodes, "a product of entries whose number may change", None),
    (_power_of_a_data_tensor, "not one number fixed by the model", None),
    pytest.param(_addcmul_in_the_deprecated_form, "a deprecated form", None,
                 marks=pytest.mark.filterwarnings("ignore:This overload of addcmul")),
    (_addcmul_with_a_traced_value, "a scale computed from parameters", None),
    (_addmm_written_into_its_input, "the result written into input", None),
], ids=lambda v: getattr(v, "__name__", "").strip("_") or None)
def test_no_false_symmetry(body, named, noted):
    sound(Head(body, out_width=5 if body is _pad_one else 4), named, noted)


def _tril_far_below_the_diagonal(m, g, h):
    return torch.tril(h, -8)  # on 9 nodes only h[8, 0] is kept; larger graphs keep more


def _views_as_another(m, g, h):
    return (h.view_as(h.t().contiguous().t()) + h.reshape(-1).reshape_as(h)) * 0.5


@pytest.mark.parametrize("body", [_method_where, _aten_embedding,
                                  _normalize_by_the_count_of_nonzeros,
                                  _variance_with_unbiased_given_by_position, _deep_copy,
                                  _conjugate_transposes, _tril_far_below_the_diagonal,
                                  _views_as_another],
                         ids=lambda f: f.__name__.strip("_"))
def test_exact_ops_keep_every_group(body):
    report = sound(Head(body))
    assert [group.name for group in report.groups] == [f"a channel {c}" for c in range(4)]
    assert report.unsupported == []


def test_a_full_backward_hook_keeps_every_group():
    """``register_full_backward_hook`` wraps a module's inputs and outputs in ``view_as``;
    without a rule for it every group was lost (sound, but nothing found)."""
    model = Head(lambda m, g, h: h)
    model.a.register_full_backward_hook(lambda module, grad_in, grad_out: None)
    report = sound(model)
    assert [group.name for group in report.groups] == [f"a channel {c}" for c in range(4)]


@pytest.mark.parametrize("reduce", [
    lambda h: h.sum(dim=[]),
    lambda h: torch.amax(h, dim=(), keepdim=True),
    lambda h: torch.std(h, dim=[]),
    lambda h: torch.linalg.vector_norm(h, dim=()),
    lambda h: F.normalize(h, dim=[]),
], ids=["sum", "amax", "std", "vector_norm", "normalize"])
def test_a_reduction_over_an_empty_list_of_axes_reduces_every_axis(reduce):
    report = sound(Head(lambda m, g, h: h * reduce(h)))  # torch: dim=[] is every axis
    assert len(report.groups) == 1


class _FromInputValues(nn.Module):
    """max(z, c) with c built from the input's values through Python: zero on the example
    input (its first column), not on others."""

    def __init__(self, fixed_zeros: bool):
        super().__init__()
        self.a, self.b, self.fixed_zeros = nn.Linear(3, 4), nn.Linear(4, 2), fixed_zeros

    def forward(self, x):
        values = x[:, :1].tolist()  # the input's values enter Python
        c = torch.zeros(len(values), 1) if self.fixed_zeros else torch.tensor(values)
        return self.b(torch.maximum(self.a(x), c.to(x.dtype)))


class _CountOfInputValues(nn.Module):
    """A Python number from an integer tensor computed from the input (how many features
    exceed 2.5: none on the example), added to a hidden tensor, alone or on a zero tensor."""

    def __init__(self, on_zeros: bool):
        super().__init__()
        self.a, self.b, self.on_zeros = nn.Linear(3, 4), nn.Linear(4, 2), on_zeros

    def forward(self, x):
        count = float((x > 2.5).sum())
        shift = torch.zeros(1, dtype=x.dtype) + count if self.on_zeros else count
        return self.b(F.relu(self.a(x)) + shift)


@pytest.mark.parametrize("on_zeros", [False, True])
def test_a_number_counted_from_the_input_is_not_a_constant(on_zeros):
    x = torch.randn(5, 3, dtype=torch.float64).clamp(max=2.0)
    report = dglbal.analyze(_CountOfInputValues(on_zeros).double(), x)
    assert report.groups == [] and report.unsupported


class _Shifted(nn.Module):
    """A hidden layer whose kink the caller places: 0 on the example input, not on others."""

    def __init__(self, shift):
        super().__init__()
        self.a, self.b, self.shift = nn.Linear(3, 4), nn.Linear(4, 2), shift

    def forward(self, x, level):
        return self.b(self.shift(self.a(x), level))


@pytest.mark.parametrize("shift", [
    lambda h, level: F.relu(h + level),
    lambda h, level: h.clamp(min=level),
    lambda h, level: F.threshold(h, level, 0.0),
    lambda h, level: torch.where(h > level, h, 0.0),
    lambda h, level: F.relu(h) ** (level + 2.0),  # a degree given by the caller
], ids=["add", "clamp", "threshold", "where", "pow"])
def test_a_float_passed_to_the_model_is_not_a_constant(shift):
    model = _Shifted(shift).double()
    x = torch.randn(5, 3, dtype=torch.float64)
    report = dglbal.analyze(model, x, 0.0)
    assert report.groups == [] and any("Python number" in u for u in report.unsupported)
    check_rescale_invariance(model, x, 1.0, report=report)


@pytest.mark.parametrize("shift", [
    lambda h, steps: h.clamp(min=steps - 2),
    lambda h, steps: F.relu(h) ** (steps - 1),
    lambda h, steps: h.clamp(min=0) * steps,  # a literal 0 is no different once ints are in
], ids=["clamp", "pow", "literal"])
def test_an_integer_passed_to_the_model_is_input_data(shift):
    """An int passed to forward may be another number for other inputs: the kink it places
    (0 at steps = 2) and the degree it gives were once trusted, 4 false groups each (outputs
    changed by 1.9 and 0.38 at steps = 3); integer arithmetic makes any finite number, so
    none is trusted."""
    model = _Shifted(shift).double()
    x = torch.randn(5, 3, dtype=torch.float64)
    report = dglbal.analyze(model, x, 2)
    assert report.groups == [] and any("Python number" in u for u in report.unsupported)
    check_rescale_invariance(model, x, 3, report=report)


class _DegreeKink(nn.Module):
    """A kink the graph places through Python: the least in-degree less one, 0 with self-loops
    on a graph whose least in-degree is 1 (another graph makes it 1 or more)."""

    def __init__(self, fill=None):
        super().__init__()
        self.a, self.b, self.fill = nn.Linear(5, 4), nn.Linear(4, 3), fill

    def forward(self, graph, x):
        least = float(graph.in_degrees().min() - 1) if self.fill != "node 0" else \
            graph.in_degrees(0) - 1  # DGL hands the degree of one node over as an int
        h = self.a(x)
        if self.fill in (None, "node 0"):
            return self.b(h.clamp(min=least))
        isolated = torch.tensor([d == 0 for d in graph.in_degrees().tolist()])
        return self.b(F.relu(h.masked_fill(isolated[:, None], self.fill)))


@pytest.mark.parametrize("kink", [None, "node 0"], ids=["least", "node-0"])
def test_a_number_from_the_graph_is_not_a_constant(kink):
    """Degrees were trusted once they entered Python, as integers from the start: 4 false
    groups, outputs changed by 4.4 on a graph with two self-loops per node."""
    model = _DegreeKink(kink).double()
    graph = dgl.add_self_loop(dgl.graph(([0, 1, 2, 3], [1, 2, 3, 4]), num_nodes=9))
    x = torch.randn(9, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    report = dglbal.analyze(model, graph, x)  # node 0 has only its self-loop: least is 0
    assert report.groups == [] and any("Python number" in u for u in report.unsupported)
    check_rescale_invariance(model, dgl.add_self_loop(graph), x, report=report)


@pytest.mark.parametrize("fill, groups", [(float("-inf"), 4), (0.0, 0)], ids=["inf", "zero"])
def test_after_graph_integers_only_infinities_stay_trusted(fill, groups):
    """No integer arithmetic makes an infinity: relu(masked_fill(h, mask, -inf)) keeps its
    groups after the degrees entered Python; a finite fill does not."""
    report = sound(_DegreeKink(fill))
    assert len(report.groups) == groups


@pytest.mark.parametrize("call,groups", [
    (lambda h: torch.sum(input=h, dim=0, keepdim=True) * h, 4),  # per channel, degree 2
    (lambda h: torch.relu(input=h), 4),
    (lambda h: torch.add(input=h, other=h), 4),
    (lambda h: torch.max(input=h) * h, 1),  # the largest entry: one common scale
], ids=["sum", "relu", "add", "max"])
def test_calls_with_keyword_arguments_are_read_as_positional_ones(call, groups):
    report = sound(Head(lambda m, g, h: call(h)))
    assert len(report.groups) == groups and report.unsupported == []


def test_a_linear_map_to_one_output_per_row():
    class Score(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.w = nn.Linear(3, 4), nn.Parameter(torch.randn(4))

        def forward(self, x):
            return F.linear(F.relu(self.a(x)), self.w)  # a 1-D weight: x @ w

    model = Score().double()
    report = dglbal.analyze(model, torch.randn(5, 3, dtype=torch.float64))
    assert len(report.groups) == 4
    check_rescale_invariance(model, torch.randn(7, 3, dtype=torch.float64), report=report)


def test_a_bias_added_to_slices_of_other_scales_keeps_them_equal():
    class TwoBranches(nn.Module):
        """One layer with a bias on a stack of two branches, whose slices are read apart."""

        def __init__(self):
            super().__init__()
            self.a1, self.a2, self.b = nn.Linear(3, 4), nn.Linear(3, 4), nn.Linear(4, 2)
            self.c1, self.c2 = nn.Linear(2, 1), nn.Linear(2, 1)

        def forward(self, x):
            h = F.relu(self.b(torch.stack([F.relu(self.a1(x)), F.relu(self.a2(x))])))
            return self.c1(h[0]) + self.c2(h[1])

    model = TwoBranches().double()
    report = dglbal.analyze(model, torch.randn(5, 3, dtype=torch.float64))
    # a1 and a2 channel j scale together (b reads both); b's two neurons
    assert len(report.groups) == 6
    check_rescale_invariance(model, torch.randn(7, 3, dtype=torch.float64), report=report)


def test_a_tensor_a_module_caches_is_left_as_found():
    layer = dglnn.SGConv(5, 3, k=2, cached=True)
    graph, x = input_sets(5, count=1, num_nodes=9, seed=99)[0]
    dglbal.analyze(layer, graph, x.float())
    assert layer._cached_h is None
    copy.deepcopy(layer)  # a cache holding the trace's autograd history could not be copied


def test_a_tensor_made_from_input_values_is_not_a_constant():
    x = torch.randn(5, 3, dtype=torch.float64)
    x[:, 0] = 0.0
    data = dglbal.analyze(_FromInputValues(fixed_zeros=False).double(), x)
    assert data.groups == [] and any("data tensor" in u for u in data.unsupported)
    relu = dglbal.analyze(_FromInputValues(fixed_zeros=True).double(), x)
    assert len(relu.groups) == 4  # torch.zeros is zero for every input: ReLU


def test_a_recurrent_layer_called_with_keywords():
    class Recurrent(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.rnn, self.b = nn.Linear(3, 4), nn.LSTM(4, 4), nn.Linear(4, 2)

        def forward(self, x):
            out, _ = self.rnn(input=F.relu(self.a(x))[None])
            return self.b(out[0])

    model = Recurrent().double()
    report = dglbal.analyze(model, torch.randn(5, 3, dtype=torch.float64))
    assert len(report.groups) == 4  # a's neurons: the LSTM's input weights absorb them
    check_rescale_invariance(model, torch.randn(7, 3, dtype=torch.float64), report=report)


def _branch_on_a_value_made_outside_the_trace(m, g, h):
    with torch._C.DisableTorchFunction():  # as a compiled kernel would: the trace sees no op
        peak = h[:, 0].max() * 1.0
    return h if peak.item() > 1.0 else 2 * h


def test_a_branch_on_a_value_made_outside_the_trace_keeps_its_constraints():
    """``.item()`` on a tensor the trace did not see being made: the value leaves the trace
    while that tensor is linked to its sources, and the branch depends on channel 0's scale.
    The op's constraints once went to the link (op ids were taken for positions in the flow)
    and channel 0 was reported as a symmetry."""
    model = Head(_branch_on_a_value_made_outside_the_trace).double()
    graph, x = input_sets(5, count=1, num_nodes=9, seed=99)[0]
    report = dglbal.analyze(model, graph, x)
    assert any("untraced op" in u for u in report.unsupported), report.unsupported
    assert {group.name for group in report.groups} == {f"a channel {c}" for c in (1, 2, 3)}
    with torch.no_grad():  # channel 0 is no symmetry: scaling it flips the branch
        peak = F.relu(model.a(x))[:, 0].max().item()
        assert peak > 0
        before, scale = model(graph, x), (0.5 if peak > 1.0 else 2.0) / peak
        model.a.weight[0] *= scale
        model.a.bias[0] *= scale
        model.b.weight[:, 0] /= scale
        assert not torch.allclose(model(graph, x), before)


def test_knn_graph_module_keeps_one_common_scale():
    class KNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.knn = nn.Linear(5, 4), dglnn.KNNGraph(3)
            self.conv = dglnn.GraphConv(4, 3, allow_zero_in_degree=True)

        def forward(self, graph, x):
            h = F.relu(self.a(x))
            return self.conv(self.knn(h), h)

    report = sound(KNN(), noted="KNNGraph")
    assert len(report.groups) == 1  # the scale shared by all channels, nothing per channel


def test_pad_with_a_constant_is_exact_and_zero_padding_is_free():
    check_symmetries(Head(_pad_one, out_width=5), 5, 4)
    check_symmetries(Head(lambda m, g, h: F.pad(h, (0, 1)), out_width=5), 5, 5)


def test_analysis_leaves_the_model_as_found():
    class Normed(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.norm, self.drop = nn.Linear(5, 4), nn.BatchNorm1d(4), nn.Dropout(0.5)
            self.b = nn.Linear(4, 3)

        def forward(self, graph, x):
            self.eval()  # a forward that even flips modes must be undone
            return self.b(self.drop(F.relu(self.norm(self.a(x)))))

    model = Normed().double().train()
    model.norm.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    modes = [m.training for m in model.modules()]
    rng = torch.random.get_rng_state()
    dglbal.analyze(model, *input_sets(5, count=1)[0])
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert [m.training for m in model.modules()] == modes
    assert torch.equal(torch.random.get_rng_state(), rng)
    model.norm.train()
    dglbal.analyze(model, *input_sets(5, count=1)[0])
    assert int(model.norm.num_batches_tracked) == 0
    assert torch.equal(model.norm.running_mean, torch.zeros(4))


def test_in_place_writes_through_views_update_every_view():
    """h[:, :1].add_(1) makes column 0 a constant plus h: exponent 0 there, the rest free."""
    def write(m, g, h):
        h = h.clone()
        pairs = h.view(-1, 2, 2)  # a view taken before the write sees it too
        h[:, :1].add_(1.0)
        return pairs.flatten(1)

    model = Head(write)
    report = sound(model)
    assert len(report.groups) == 3  # channels 1, 2, 3; channel 0 is pinned by the constant


def test_reversible_block_run_under_no_grad_is_traced():
    """GroupRevRes runs its branch under no_grad inside an autograd Function."""
    class Branch(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, graph, x):
            return F.relu(self.fc(x))

    class Reversible(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.rev, self.b = nn.Linear(5, 4), dglnn.GroupRevRes(Branch(), 2), nn.Linear(
                4, 3)

        def forward(self, graph, x):
            return self.b(F.relu(self.rev(graph, F.relu(self.a(x)))))

    report = sound(Reversible())
    assert len(report.groups) == 4 and report.unsupported == []


def _two_relations(src_s, dst_s):
    return dgl.heterograph({("u", "r", "v"): (torch.tensor([0, 1, 2]), torch.tensor([0, 0, 1])),
                            ("v", "s", "u"): (torch.tensor(src_s, dtype=torch.int64),
                                              torch.tensor(dst_s, dtype=torch.int64))},
                           num_nodes_dict={"u": 3, "v": 2})


class HeteroGAT(nn.Module):
    def __init__(self):
        super().__init__()
        def conv(i, o):
            return dglnn.GATConv(i, o, 1, allow_zero_in_degree=True)
        self.c1 = dglnn.HeteroGraphConv({"r": conv(5, 4), "s": conv(5, 4)})
        self.c2 = dglnn.HeteroGraphConv({"r": conv(4, 3), "s": conv(4, 3)})

    def forward(self, g, feats):
        h = {k: F.relu(v.flatten(1)) for k, v in self.c1(g, feats).items()}
        return {k: v.flatten(1) for k, v in self.c2(g, h).items()}


def test_a_relation_without_edges_claims_nothing_about_its_attention():
    """With no edges of relation s the attention logits of s are empty tensors: what they
    would constrain cannot be seen, so they are held at 0 and named (they were free)."""
    torch.manual_seed(0)
    model = HeteroGAT().double()
    feats = {"u": torch.randn(3, 5, dtype=torch.float64),
             "v": torch.randn(2, 5, dtype=torch.float64)}
    report = dglbal.analyze(model, _two_relations([], []), feats)
    assert any("empty tensor" in u and "c1.mods.s" in u for u in report.unsupported)
    full = _two_relations([0, 1, 0, 1], [1, 1, 2, 2])
    check_rescale_invariance(model, full, feats, report=report)
    assert len(report.groups) == len(dglbal.analyze(model, full, feats).groups)


def test_an_empty_graph_holds_everything_at_zero():
    model = Head(lambda m, g, h: h).double()
    empty = dgl.graph(([], []), num_nodes=0)
    report = dglbal.analyze(model, empty, torch.zeros(0, 5, dtype=torch.float64))
    assert report.groups == [] and any("empty tensor" in u for u in report.unsupported)


class NodeEmbedding(nn.Module):
    """A learned per-node offset for up to 40 nodes, sliced by the graph's size."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(5, 4), nn.Linear(4, 3)
        self.offset = nn.Parameter(torch.randn(40, 4))

    def forward(self, graph, x):
        return self.b(F.relu(self.a(x) + self.offset[:graph.num_nodes()]))


def test_a_parameter_the_input_reads_only_in_part_is_held_at_zero():
    """On 9 nodes only offset[:9] is read. Its other rows could be rescaled freely there (one
    false group per entry, before), but a larger graph reads them and they must then scale
    with a's neurons: no group may claim any of offset, and the refusal says why."""
    torch.manual_seed(0)
    model = NodeEmbedding().double()
    graph, x = input_sets(5, count=1, num_nodes=9, seed=3)[0]
    report = dglbal.analyze(model, graph, x)
    assert report.groups == []
    refusal, = [u for u in report.unsupported if "offset: 124 of 160 entries" in u]
    assert refusal.cost == 4  # a's four neurons, through the rows that were read
    for larger in input_sets(5, count=2, num_nodes=40):
        check_rescale_invariance(model, *larger, report=report)
    # When every row is read, the offsets simply scale with a's neurons.
    full = dglbal.analyze(model, *input_sets(5, count=1, num_nodes=40)[0])
    assert len(full.groups) == 4 and not full.unsupported
    for graph, x in input_sets(5, count=2, num_nodes=40, seed=7):
        check_rescale_invariance(model, graph, x, report=full)
