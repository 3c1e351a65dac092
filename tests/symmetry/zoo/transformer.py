"""Zoo cases: the graph-transformer pieces of ``dgl.nn.pytorch.gt`` on one dense batch of all
nodes (degree, spatial and path encodings as attention biases)."""
import dgl
import dgl.nn.pytorch as dglnn
import torch
from torch import nn

from .inputs import EDGE, HIDDEN as H
from .registry import Around, case, raise_eps, without_effect

HEADS = 2
MAX_PATH = 2


@case("DegreeEncoder", ("DegreeEncoder",))
def degree_encoder():
    def step(model, g, h):
        g = dgl.remove_self_loop(g)  # degree 0 reads the padding row, as padded batches do
        degrees = torch.stack([g.in_degrees(), g.out_degrees()])[:, None]
        return h + model.layer(degrees)[0]
    return Around(dglnn.DegreeEncoder(3, H), H, step)


def without_key_bias(attention: nn.Module) -> nn.Module:
    """A key bias adds the same amount to every logit of a query (see ``without_effect``)."""
    return without_effect(attention, "k_proj.bias")


def _attention(model, g, h, bias):
    return model.layer(h[None], attn_bias=bias)[0]


@case("BiasedMHA", ("BiasedMHA",))
def biased_mha():
    return Around(without_key_bias(dglnn.BiasedMHA(H, HEADS, attn_drop=0.0)), H,
                  lambda model, g, h: _attention(model, g, h, None))


@case("BiasedMHA+SpatialEncoder", ("BiasedMHA", "SpatialEncoder"))
def spatial_encoder():
    def step(model, g, h):
        return _attention(model, g, h, model.extra["encoder"](dgl.shortest_dist(g)[None]))
    return Around(without_key_bias(dglnn.BiasedMHA(H, HEADS, attn_drop=0.0)), H, step,
                  {"encoder": dglnn.SpatialEncoder(3, HEADS)})


def _path_data(g):
    dist, paths = dgl.shortest_dist(g, return_paths=True)
    paths = paths[..., :MAX_PATH]
    if paths.shape[-1] < MAX_PATH:
        pad = -torch.ones(*paths.shape[:-1], MAX_PATH - paths.shape[-1], dtype=paths.dtype)
        paths = torch.cat([paths, pad], dim=-1)
    feat = g.edata["feat"][paths.clamp(min=0)] * (paths >= 0)[..., None]
    return dist[None], feat[None]


@case("BiasedMHA+PathEncoder", ("BiasedMHA", "PathEncoder"))
def path_encoder():
    def step(model, g, h):
        return _attention(model, g, h, model.extra["encoder"](*_path_data(g)))
    return Around(without_key_bias(dglnn.BiasedMHA(H, HEADS, attn_drop=0.0)), H, step,
                  {"encoder": dglnn.PathEncoder(MAX_PATH, EDGE, HEADS)})


@case("BiasedMHA+SpatialEncoder3d", ("BiasedMHA", "SpatialEncoder3d"), names=("exp|gelu",))
def spatial_encoder_3d():
    def step(model, g, h):
        # Every row of gamma and beta is read: type -1 (a padded node) has rows of its own,
        # and row 0 serves calls without types.
        types = torch.arange(g.num_nodes()) % 3 - 1
        pos, encoder = g.ndata["pos"][None], model.extra["encoder"]
        return _attention(model, g, h, encoder(pos, types[None]) + encoder(pos))
    encoder = without_effect(dglnn.SpatialEncoder3d(2, HEADS, max_node_type=2),
                             "linear_layer_2.bias")  # one constant per head's logits
    return Around(without_key_bias(dglnn.BiasedMHA(H, HEADS, attn_drop=0.0)), H, step,
                  {"encoder": encoder})


@case("GraphormerLayer", ("GraphormerLayer",), names=("layer_norm",))
def graphormer_layer():
    layer = dglnn.GraphormerLayer(H, H, HEADS, dropout=0.0, attn_dropout=0.0,
                                  activation=nn.ReLU())
    without_key_bias(layer.attn)
    return Around(raise_eps(layer), H, lambda model, g, h: model.layer(h[None])[0])


@case("EGTLayer", ("EGTLayer",), names=("layer_norm", "sigmoid", "clamp"))
def egt_layer():
    def step(model, g, h):
        n = g.num_nodes()
        src, dst = g.edges()
        efeat = torch.zeros(n, n, EDGE, dtype=h.dtype).index_put((src, dst), g.edata["feat"])
        nodes, edges = model.layer(h[None], efeat[None])
        return torch.cat([nodes[0], edges[0].sum(1)], dim=1)
    layer = dglnn.EGTLayer(H, EDGE, HEADS, 0, activation=nn.ReLU())
    return Around(raise_eps(layer), H + EDGE, step)


