"""Zoo cases: global pooling, jumping knowledge, label propagation, typed and hetero linears,
link predictors (``dgl.nn.pytorch.glob``, ``utils``, ``linear``, ``link``)."""
import dgl.nn.pytorch as dglnn
import torch
import torch.nn.functional as F
from torch import nn

from .inputs import HIDDEN as H, RELS
from .registry import Around, case, raise_eps, without_effect


for _name, _cls in (("SumPooling", dglnn.SumPooling), ("AvgPooling", dglnn.AvgPooling),
                    ("MaxPooling", dglnn.MaxPooling)):
    case(_name, (_name,))(lambda cls=_cls: Around(cls(), H))


@case("SortPooling", ("SortPooling",))
def sortpooling():
    return Around(dglnn.SortPooling(k=2), 2 * H)


@case("GlobalAttentionPooling", ("GlobalAttentionPooling",))
def global_attention_pooling():
    # No gate bias: a softmax over each graph's nodes ignores it (a free parameter, no neuron).
    return Around(dglnn.GlobalAttentionPooling(nn.Linear(H, 1, bias=False), nn.Linear(H, H)), H)


@case("Set2Set", ("Set2Set",), names=("lstm",))
def set2set():
    return Around(dglnn.Set2Set(H, n_iters=2, n_layers=1), 2 * H)


@case("WeightAndSum", ("WeightAndSum",), names=("sigmoid",))
def weight_and_sum():
    return Around(dglnn.WeightAndSum(H), H)


@case("SetTransformerEncoder", ("SetTransformerEncoder",), names=("layer_norm",))
def set_transformer_encoder():
    return Around(raise_eps(dglnn.SetTransformerEncoder(H, 1, 2, 2)), H)


@case("SetTransformerDecoder", ("SetTransformerDecoder",), names=("layer_norm",))
def set_transformer_decoder():
    return Around(raise_eps(dglnn.SetTransformerDecoder(H, 1, 2, 2, 1, k=2)), 2 * H)


class JumpingKnowledgeNet(nn.Module):
    """Two graph convolutions whose ReLU outputs a JumpingKnowledge layer combines."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.convs = nn.ModuleList([dglnn.GraphConv(H, H), dglnn.GraphConv(H, H)])
        self.jk = dglnn.JumpingKnowledge(mode, in_feats=H, num_layers=2)
        if mode == "lstm":  # one constant added to the logits of every layer
            without_effect(self.jk, "att.bias")

    def forward(self, graph, h):
        layers = []
        for conv in self.convs:
            h = F.relu(conv(graph, h))
            layers.append(h)
        return self.jk(layers)


for _mode, _width in (("cat", 2 * H), ("max", H), ("lstm", H)):
    case(f"JumpingKnowledge-{_mode}", ("JumpingKnowledge",),
         names=("lstm",) if _mode == "lstm" else ())(
        lambda mode=_mode, width=_width: Around(JumpingKnowledgeNet(mode), width))


def _types(h):
    return torch.arange(h.shape[0]) % RELS


for _regularizer in ("basis", "bdd", None):
    case(f"TypedLinear-{_regularizer or 'none'}", ("TypedLinear",))(
        lambda regularizer=_regularizer: Around(
            dglnn.TypedLinear(H, H, RELS, regularizer, num_bases=2 if regularizer else None),
            H, lambda model, g, h: model.layer(h, _types(h))))


@case("WeightBasis", ("WeightBasis",))
def weight_basis():
    def step(model, g, h):
        weights, types = model.layer(), _types(h)
        return sum((h * (types == r)[:, None]) @ weights[r] for r in range(RELS))
    return Around(dglnn.WeightBasis((H, H), 2, RELS), H, step)


@case("HeteroLinear", ("HeteroLinear",))
def hetero_linear():
    return Around(dglnn.HeteroLinear({"node": H}, H), H,
                  lambda model, g, h: model.layer({"node": h})["node"])


@case("HeteroEmbedding", ("HeteroEmbedding",))
def hetero_embedding():
    def step(model, g, h):
        ids = torch.arange(h.shape[0]) % 5
        return h + model.layer({"node": ids})["node"]
    return Around(dglnn.HeteroEmbedding({"node": 5}, H), H, step)


def _edge_scores(model, g, h):
    h = F.relu(model.extra["conv"](g, h))
    src, dst = g.edges()
    return model.layer(h[src], h[dst])


for _op, _width in (("dot", 1), ("cos", 1), ("ele", 3), ("cat", 3)):
    case(f"EdgePredictor-{_op}", ("EdgePredictor",))(
        lambda op=_op, width=_width: Around(
            dglnn.EdgePredictor(op, H, 3 if op in ("ele", "cat") else None), width,
            _edge_scores, {"conv": dglnn.GraphConv(H, H)}))


def _triple_distances(model, g, h):
    """Minus the triple score: the distance ||h + r - t|| >= 0 (the score itself is <= 0, a
    ReLU after it would output 0 whatever the parameters)."""
    src, dst = g.edges()
    return -model.layer(h[src], h[dst], g.edata["etype"])[:, None]


@case("TransE", ("TransE",))
def transe():
    return Around(dglnn.TransE(RELS, H), 1, _triple_distances)


@case("TransR", ("TransR",))
def transr():
    return Around(dglnn.TransR(RELS, 3, H), 1, _triple_distances)
