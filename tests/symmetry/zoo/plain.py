"""Zoo cases: plain-torch and ``dgl.sparse`` models, and the patterns that fooled the
analyser into false symmetries (constant pads, discrete decisions on hidden features, paths it
cannot see)."""
import dgl
import dgl.nn.pytorch as dglnn
import dgl.sparse as dglsp
import torch
import torch.nn.functional as F
from torch import nn

from .inputs import HIDDEN as H
from .registry import Around, case

DISCRETE = ("a discrete decision on hidden features: finite rescalings change it, the Jacobian "
            "does not see it")
ANY = (".",)  # some entry in report.unsupported, whatever its wording


def _linear(model, g, h):
    return model.layer(h)


# --- plain torch ----------------------------------------------------------------------------

@case("torch-MLP")
def torch_mlp():
    return Around(nn.Sequential(nn.Linear(H, H), nn.ReLU(), nn.Linear(H, H)), H, _linear)


@case("torch-gather-rows")
def torch_gather_rows():
    """h[idx] with an integer tensor (the pattern of link predictors and R-GCN)."""
    return Around(nn.Linear(H, H), H, lambda model, g, h: model.layer(h)[g.edges()[0]])


@case("torch-einsum")
def torch_einsum():
    return Around(nn.Linear(H, H, bias=False), H,
                  lambda model, g, h: torch.einsum("nc,oc->no", h, model.layer.weight))


@case("torch-normalize")
def torch_normalize():
    return Around(nn.Linear(H, H), H, lambda model, g, h: model.layer(F.normalize(h, dim=1)))


@case("torch-sort-channels")
def torch_sort_channels():
    return Around(nn.Linear(H, H), H, lambda model, g, h: model.layer(h.sort(dim=1).values))


@case("torch-LSTM-input", names=("lstm",))
def torch_lstm():
    return Around(nn.LSTM(H, H), H, lambda model, g, h: model.layer(h[:, None])[0][:, 0])


@case("torch-GRUCell-input", names=("gru",))
def torch_gru_cell():
    # A constant hidden state: with none (zeros) the hidden-to-hidden weights would have no
    # effect, and every scaling of them would count as a symmetry.
    return Around(nn.GRUCell(H, H), H,
                  lambda model, g, h: model.layer(h, torch.full_like(h, 0.5)))


@case("torch-embedding")
def torch_embedding():
    def step(model, g, h):
        return h + model.layer(torch.arange(h.shape[0]) % 5)
    return Around(nn.Embedding(5, H), H, step)


@case("torch-pad-zero")
def torch_pad_zero():
    def step(model, g, h):
        return model.layer(F.pad(h, (0, 1)) + model.extra["side"](h))
    return Around(nn.Linear(H + 1, H), H, step, {"side": nn.Linear(H, H + 1)})


@case("torch-pad-one")
def torch_pad_one():
    return Around(nn.Linear(H + 1, H), H,
                  lambda model, g, h: model.layer(F.pad(h, (0, 1), value=1.0)))


@case("torch-add-constant", names=ANY)
def torch_add_constant():
    return Around(nn.Linear(H, H), H, lambda model, g, h: model.layer(h + 0.5))


@case("torch-clamp-constant", names=ANY)
def torch_clamp_constant():
    return Around(nn.Linear(H, H), H, lambda model, g, h: model.layer(h.clamp(max=1.0)))


@case("torch-inplace-view-add", names=ANY)
def torch_inplace_view_add():
    def step(model, g, h):
        h = h.clone()
        h[:, :1].add_(1.0)
        return model.layer(h)
    return Around(nn.Linear(H, H), H, step)


@case("torch-topk-channels", expect="refused", why=DISCRETE, blackbox=False, groups=5)
def torch_topk_channels():
    return Around(nn.Linear(2, H), H, lambda model, g, h: model.layer(h.topk(2, dim=1).values))


@case("torch-argmax-gather", expect="refused", why=DISCRETE, blackbox=False, groups=2)
def torch_argmax_gather():
    def step(model, g, h):
        z = model.layer(h)
        return z.gather(1, h.argmax(dim=1, keepdim=True).expand(-1, H))
    return Around(nn.Linear(H, H), H, step)


@case("torch-comparison-mask", expect="refused", why=DISCRETE, blackbox=False, groups=7)
def torch_comparison_mask():
    return Around(nn.Linear(H, H), H,
                  lambda model, g, h: model.layer(h * (h[:, :1] > 0.5)))


@case("torch-detach", blackbox=False, groups=5,
      why="a detached path: neither autograd nor the Jacobian black box sees it")
def torch_detach():
    return Around(nn.Linear(H, H), H,
                  lambda model, g, h: model.layer(h * h.detach().sum(1, keepdim=True)))


@case("torch-no-grad", blackbox=False, groups=5,
      why="a value computed under no_grad: neither autograd nor the Jacobian black box sees it")
def torch_no_grad():
    def step(model, g, h):
        with torch.no_grad():
            scale = h.sum(1, keepdim=True)
        return model.layer(h * scale)
    return Around(nn.Linear(H, H), H, step)


# --- graphs built from hidden features ---------------------------------------------------------

def _knn(builder):
    def step(model, g, h):
        return model.layer(builder(model, g, h), h)
    return step


@case("KNNGraph", ("KNNGraph",), expect="refused", why=DISCRETE, blackbox=False, groups=5)
def knn_graph():
    return Around(dglnn.GraphConv(H, H, allow_zero_in_degree=True), H,
                  _knn(lambda model, g, h: model.extra["knn"](h)), {"knn": dglnn.KNNGraph(2)})


@case("SegmentedKNNGraph", ("SegmentedKNNGraph",), expect="refused", why=DISCRETE,
      blackbox=False, groups=5)
def segmented_knn_graph():
    def build(model, g, h):
        return model.extra["knn"](h, g.batch_num_nodes().tolist())
    return Around(dglnn.GraphConv(H, H, allow_zero_in_degree=True), H, _knn(build),
                  {"knn": dglnn.SegmentedKNNGraph(2)})


@case("RadiusGraph", ("RadiusGraph",), expect="refused", why=DISCRETE, blackbox=False,
      groups=4)
def radius_graph():
    def build(model, g, h):
        return dgl.add_self_loop(model.extra["radius"](h))
    return Around(dglnn.GraphConv(H, H), H, _knn(build), {"radius": dglnn.RadiusGraph(1.0)})


@case("dgl.knn_graph", expect="refused", why=DISCRETE, blackbox=False, groups=5)
def dgl_knn_graph():
    return Around(dglnn.GraphConv(H, H, allow_zero_in_degree=True), H,
                  _knn(lambda model, g, h: dgl.knn_graph(h, 2)))


# --- dgl.sparse ------------------------------------------------------------------------------

def _adjacency(g, dtype):
    src, dst = g.edges()
    return dglsp.spmatrix(torch.stack([dst, src]), torch.ones(g.num_edges(), dtype=dtype),
                          shape=(g.num_nodes(), g.num_nodes())).coalesce()


def _normalized_adjacency(g, dtype):
    A = _adjacency(g, dtype)
    D = dglsp.diag(A.sum(1)) ** -0.5
    return D @ A @ D


class SparseGCN(nn.Module):
    """Two graph convolutions written with dgl.sparse: D^-1/2 A D^-1/2 @ X W."""

    def __init__(self):
        super().__init__()
        self.first, self.second = nn.Linear(H, H), nn.Linear(H, H)

    def forward(self, g, h):
        A = _normalized_adjacency(g, h.dtype)
        h = F.relu(A @ self.first(h))
        return A @ self.second(h)


class SparseGAT(nn.Module):
    """One GAT layer written with dgl.sparse (DGL's sparse GAT example pattern)."""

    def __init__(self, heads=2, width=2):
        super().__init__()
        self.heads, self.width = heads, width
        self.W = nn.Linear(H, heads * width)
        self.a_l = nn.Parameter(torch.randn(1, width, heads))
        self.a_r = nn.Parameter(torch.randn(1, width, heads))

    def forward(self, g, h):
        A = _adjacency(g, h.dtype)
        Z = self.W(h).view(-1, self.width, self.heads)
        e_l, e_r = (Z * self.a_l).sum(dim=1), (Z * self.a_r).sum(dim=1)
        e = F.leaky_relu(e_l[A.row] + e_r[A.col], 0.2)
        attention = dglsp.softmax(dglsp.val_like(A, e))
        return dglsp.bspmm(attention, Z).reshape(h.shape[0], -1)


@case("sparse-A@X")
def sparse_matmul():
    def step(model, g, h):
        return model.layer(_adjacency(g, h.dtype) @ h)
    return Around(nn.Linear(H, H), H, step)


@case("sparse-GCN")
def sparse_gcn():
    return Around(SparseGCN(), H, lambda model, g, h: model.layer(g, h))


@case("sparse-GAT")
def sparse_gat():
    return Around(SparseGAT(), 4, lambda model, g, h: model.layer(g, h))
