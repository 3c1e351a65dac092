"""Which modules are graph layers, and where their weights are.

The layer schemes (:mod:`dglbal.init.layers`), GNN He and the balanced schemes find a layer's
weights here. A layer's *feature maps* are its linear maps of node features, each given as
column blocks ``[W_1 | ... | W_k]`` of (out, in_i) tensors acting on one concatenated input:

=============================== ===========================================================
GATConv / GATv2Conv             one map per feature transform (``fc``, or ``fc_src`` and
                                ``fc_dst``; a shared one once)
GraphConv                       one map, ``weight`` (stored as (in, out): a transposed view)
SAGEConv (``mean``, ``gcn``)    one map of two blocks ``[fc_self | fc_neigh]``: the layer
                                computes ``fc_self(h_v) + fc_neigh(mean h_u)``, the original
                                GraphSAGE's linear map of the concatenation ``[h_v, mean
                                h_u]`` (``gcn`` has no ``fc_self``: one block)
SAGEConv (``pool``, ``lstm``)   as above; ``fc_pool`` / the LSTM are inner parts of the
                                aggregator, not feature maps (only ``xavier`` is defined)
GINConv                         one map per ``nn.Linear`` of ``apply_func`` (a Linear, or a
                                Sequential MLP), in order
=============================== ===========================================================
"""
from __future__ import annotations

from typing import Iterator, List, Optional, Tuple, Type

import torch
from dgl.nn.pytorch import GATConv, GATv2Conv, GINConv, GraphConv, SAGEConv
from torch import nn

__all__ = ["register_graph_layer", "graph_layers", "require_graph_layers", "is_attention_layer",
           "feature_maps", "feature_weights", "map_positions", "attention_parameters",
           "layer_biases", "residual_linear", "check_scheme_defined", "unknown_parameters"]

_ATTENTION_NAMES = ("attn", "attn_l", "attn_r")
_FEATURE_LINEAR_NAMES = ("fc", "fc_src", "fc_dst")
_SAGE_FEATURE_AGGREGATORS = ("mean", "gcn")

# The layer types the schemes act on: DGL's, and those registered (dglbal.nn registers its
# own). A registry rather than duck typing on attribute names: DGL's EdgeGATConv and EGATConv
# also own ``attn`` parameters, with other roles, and must not be initialized as GAT layers.
_GRAPH_LAYER_TYPES: List[Type[nn.Module]] = [GATConv, GATv2Conv, GraphConv, SAGEConv, GINConv]


def register_graph_layer(cls: Type[nn.Module]) -> Type[nn.Module]:
    """Let the schemes act on ``cls``: a layer with DGL's parameter names (``fc`` / ``fc_src``
    / ``fc_dst``, ``attn`` / ``attn_l`` / ``attn_r``, ``res_fc``, ``bias``; or GraphConv's
    ``weight`` stored as (in, out)), or a subclass of DGL's SAGEConv or GINConv. Usable as a
    class decorator.

    Parameters
    ----------
    cls : type
        An ``nn.Module`` subclass with those parameter names.

    Returns
    -------
    type
        ``cls``, registered.

    Raises
    ------
    TypeError
        When ``cls`` is not an ``nn.Module`` subclass.

    Examples
    --------
    >>> import dgl.nn, torch
    >>> from dglbal.init import register_graph_layer, xavier_
    >>> @register_graph_layer
    ... class MyGAT(dgl.nn.GATConv):
    ...     pass
    >>> _ = xavier_(torch.nn.Sequential(MyGAT(4, 2, num_heads=1)))
    """
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise TypeError(f"register_graph_layer needs an nn.Module subclass, got {cls!r}")
    if cls not in _GRAPH_LAYER_TYPES:
        _GRAPH_LAYER_TYPES.append(cls)
    return cls


def is_graph_layer(module: nn.Module) -> bool:
    """Whether the schemes act on ``module`` (a known or registered graph layer type)."""
    return isinstance(module, tuple(_GRAPH_LAYER_TYPES))


def graph_layers(module: nn.Module) -> Iterator[nn.Module]:
    """Yield the graph layers of ``module`` (DGL's and dglbal's GATConv, GATv2Conv and
    GraphConv, DGL's SAGEConv and GINConv, and registered types), in order.

    Parameters
    ----------
    module : nn.Module
        A model.

    Yields
    ------
    nn.Module
        Each graph layer, in the order of ``module.modules()``.

    Examples
    --------
    >>> from dglbal.nn import GAT, GIN
    >>> [type(layer).__name__ for layer in graph_layers(GAT(4, 8, 2, num_layers=3))]
    ['GATv2Conv', 'GATv2Conv', 'GATv2Conv']
    >>> [type(layer).__name__ for layer in graph_layers(GIN(4, 8, 2, num_layers=2))]
    ['GINConv', 'GINConv']
    """
    kinds: Tuple[Type[nn.Module], ...] = tuple(_GRAPH_LAYER_TYPES)
    for sub in module.modules():
        if isinstance(sub, kinds):
            yield sub


def require_graph_layers(module: nn.Module, what: str) -> List[nn.Module]:
    """The graph layers of ``module``; a ``ValueError`` naming ``what`` when it has none
    (the scheme would otherwise leave the model as it was, without a word)."""
    layers = list(graph_layers(module))
    if not layers:
        raise ValueError(f"{what}: {type(module).__name__} holds no graph layer "
                         f"({known_layer_types()}); a layer of another type joins with "
                         "register_graph_layer")
    return layers


def known_layer_types() -> str:
    return ", ".join(kind.__name__ for kind in _GRAPH_LAYER_TYPES)


def is_attention_layer(layer: nn.Module) -> bool:
    """True for GATConv / GATv2Conv-like layers (they own attention vectors).

    Parameters
    ----------
    layer : nn.Module
        A graph layer.

    Returns
    -------
    bool
        Whether it owns attention vectors.

    Examples
    --------
    >>> from dglbal.nn import GATConv, GraphConv
    >>> is_attention_layer(GATConv(4, 2, num_heads=1)), is_attention_layer(GraphConv(4, 2))
    (True, False)
    """
    return any(isinstance(getattr(layer, n, None), nn.Parameter) for n in _ATTENTION_NAMES)


def _gin_linears(layer: nn.Module) -> List[nn.Linear]:
    func = layer.apply_func
    return [] if func is None else [m for m in func.modules() if isinstance(m, nn.Linear)]


def _is_plain_mlp(func: Optional[nn.Module]) -> bool:
    """A Linear, or a Sequential of Linear and ReLU modules starting and ending with a
    Linear (so that looks-linear weights make it linear at initialization)."""
    if isinstance(func, nn.Linear):
        return True
    if not isinstance(func, nn.Sequential) or not len(func):
        return False
    parts = list(func)
    return (all(isinstance(m, (nn.Linear, nn.ReLU)) for m in parts)
            and isinstance(parts[0], nn.Linear) and isinstance(parts[-1], nn.Linear))


def feature_maps(layer: nn.Module) -> List[List[torch.Tensor]]:
    """The layer's linear maps of node features, each as its column blocks (out, in_i)
    acting on one concatenated input (see the module doc).

    Tensors are the parameters themselves, except GraphConv's (in, out) weight, returned as
    its transposed view (in-place changes reach it).
    """
    if isinstance(layer, SAGEConv):
        fc_self = getattr(layer, "fc_self", None)
        blocks = [fc_self.weight] if isinstance(fc_self, nn.Linear) else []
        return [blocks + [layer.fc_neigh.weight]]
    if isinstance(layer, GINConv):
        return [[linear.weight] for linear in _gin_linears(layer)]
    if not is_attention_layer(layer):
        weight = getattr(layer, "weight", None)
        return [] if weight is None else [[weight.t()]]
    seen, maps = set(), []
    for name in _FEATURE_LINEAR_NAMES:
        linear = getattr(layer, name, None)
        if isinstance(linear, nn.Linear) and id(linear) not in seen:
            seen.add(id(linear))
            maps.append([linear.weight])
    return maps


def feature_weights(layer: nn.Module) -> List[torch.Tensor]:
    """The layer's feature transforms as (out_features, in_features) tensors (views): every
    block of ``feature_maps``.

    Shared modules (GATv2Conv with ``share_weights=True``) appear once. GraphConv stores its
    weight as (in, out); the transposed view is returned, so in-place changes reach it.

    Parameters
    ----------
    layer : nn.Module
        A graph layer.

    Returns
    -------
    list of torch.Tensor
        Views of its weight matrices, each ``(out_features, in_features)``.

    Examples
    --------
    >>> from dglbal.nn import GATv2Conv, GraphConv
    >>> [tuple(w.shape) for w in feature_weights(GATv2Conv(4, 2, num_heads=2, share_weights=True))]
    [(4, 4)]
    >>> [tuple(w.shape) for w in feature_weights(GraphConv(4, 3))]  # GraphConv stores (in, out)
    [(3, 4)]
    >>> import dgl.nn
    >>> [tuple(w.shape) for w in feature_weights(dgl.nn.SAGEConv(4, 3, "mean"))]  # self, neigh
    [(3, 4), (3, 4)]
    """
    return [block for blocks in feature_maps(layer) for block in blocks]


def map_positions(layer: nn.Module, position: str) -> List[str]:
    """The looks-linear position of each of the layer's ``feature_maps`` when the layer
    sits at ``position`` in the stack: the layer's position, except inside a GINConv MLP,
    whose entry map takes the layer's input side (``first`` or ``hidden``), whose exit map
    takes its output side (``last`` or ``hidden``), and whose inner maps are ``hidden``."""
    count = len(feature_maps(layer))
    if not isinstance(layer, GINConv) or count < 2:
        return [position] * count
    entry = "first" if position == "first" else "hidden"
    exit_ = "last" if position == "last" else "hidden"
    return [entry] + ["hidden"] * (count - 2) + [exit_]


def check_scheme_defined(layer: nn.Module, scheme: str) -> None:
    """Refuse ``scheme`` on a layer where it is not defined (a ``ValueError`` naming the
    layer, the option and the alternatives): He and looks-linear on SAGEConv's ``pool`` and
    ``lstm`` aggregators (their inner transforms are not feature maps); looks-linear on a
    GINConv whose ``apply_func`` is not a Linear / Linear-ReLU MLP. On any other layer
    (GAT-like, GraphConv-like, registered types), also refuse parameters that play no role
    the schemes know (:func:`unknown_parameters`): every scheme would leave them as they
    were."""
    unknown = unknown_parameters(layer)
    if unknown:
        raise ValueError(
            f"init {scheme!r}: {type(layer).__name__} has parameters the init schemes do not "
            f"know: {', '.join(unknown)}; every scheme would leave them as they are. The "
            "schemes know DGL's names (fc / fc_src / fc_dst, GraphConv's weight, attn / "
            "attn_l / attn_r, res_fc, biases): use those, or initialize the layer yourself")
    if scheme == "xavier":
        return
    if isinstance(layer, SAGEConv) and layer._aggre_type not in _SAGE_FEATURE_AGGREGATORS:
        raise ValueError(f"init {scheme!r} is defined for SAGEConv's aggregators "
                         f"{' and '.join(_SAGE_FEATURE_AGGREGATORS)}; aggregator "
                         f"{layer._aggre_type!r} has an inner transform (fc_pool / LSTM): "
                         "use init='xavier' (DGL's) with it")
    if (isinstance(layer, GINConv) and scheme == "looks_linear"
            and layer.apply_func is not None and not _is_plain_mlp(layer.apply_func)):
        raise ValueError(f"init 'looks_linear' needs GINConv's apply_func to be an nn.Linear or "
                         f"an nn.Sequential of Linear and ReLU layers; got "
                         f"{type(layer.apply_func).__name__}: "
                         f"{layer.apply_func!r}. Use init='xavier' or 'he'")


def unknown_parameters(layer: nn.Module) -> List[str]:
    """The names of a layer's parameters that are none of its feature maps, attention
    vectors, residual weight or biases, so that no scheme would draw them (a registered layer
    with other names than DGL's). SAGEConv and GINConv have their own rules (their aggregator
    and MLP parts, GIN's ``eps``), and give none."""
    if isinstance(layer, (SAGEConv, GINConv)):
        return []
    known = {id(t if t._base is None else t._base) for t in feature_weights(layer)}
    known.update(id(p) for p in attention_parameters(layer) + layer_biases(layer))
    residual = residual_linear(layer)
    if residual is not None:
        known.add(id(residual.weight))
    return [name for name, p in layer.named_parameters() if id(p) not in known]


def attention_parameters(layer: nn.Module) -> List[nn.Parameter]:
    """The attention vectors of a GAT-like layer (empty for other layers).

    Parameters
    ----------
    layer : nn.Module
        A graph layer.

    Returns
    -------
    list of nn.Parameter
        Its attention vectors (``attn``, or ``attn_l`` and ``attn_r``).

    Examples
    --------
    >>> from dglbal.nn import GATv2Conv, GraphConv
    >>> [tuple(p.shape) for p in attention_parameters(GATv2Conv(4, 2, num_heads=2))]
    [(1, 2, 2)]
    >>> attention_parameters(GraphConv(4, 4))
    []
    """
    params = (getattr(layer, n, None) for n in _ATTENTION_NAMES)
    return [p for p in params if isinstance(p, nn.Parameter)]


def layer_biases(layer: nn.Module) -> List[torch.Tensor]:
    """Every bias of the layer: its linear modules' (feature, residual, SAGE's pooling,
    GIN's MLP) and its own ``bias`` tensor."""
    biases = [m.bias for m in layer.modules() if isinstance(m, nn.Linear) and m.bias is not None]
    bias = getattr(layer, "bias", None)
    if isinstance(bias, torch.Tensor):
        biases.append(bias)
    return biases


def residual_linear(layer: nn.Module) -> Optional[nn.Linear]:
    """The layer's linear residual branch ``res_fc``, if it has one."""
    res_fc = getattr(layer, "res_fc", None)
    return res_fc if isinstance(res_fc, nn.Linear) else None
