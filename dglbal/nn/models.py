"""The deep builders' common base (initialization schemes, fixup skips, one graph or one block
per layer) and the deep GAT; :mod:`.gcn`, :mod:`.sage` and :mod:`.gin` build on it."""
from __future__ import annotations

import math
from typing import Callable, List, Optional, Sequence, Tuple, Union

import dgl
import torch
import torch.nn.functional as F
from dgl import DGLGraph
from torch import nn

from dglbal.balance import balance_
from dglbal.init import (DEFAULT_LOGIT_SPREAD, feature_weights, get_scheme, graph_layers,
                         init_layer_, is_attention_layer, scale_to_logit_spread_, scheme_names)
from dglbal.symmetry import analyze

from ._base import GraphLayer
from .gatconv import GATConv
from .gatv2conv import GATv2Conv

__all__ = ["GAT"]

_XAVIER_SCHEMES = ("xavier", "xavier_zero_attention")
InitData = Tuple[Union[DGLGraph, Sequence[DGLGraph]], torch.Tensor]
Activation = Callable[[torch.Tensor], torch.Tensor]


def _position(index: int, num_layers: int) -> str:
    if index == 0:
        return "first"
    return "last" if index == num_layers - 1 else "hidden"


def _check_init_data(init_data: Optional[InitData], init: str, needs_data: bool) -> None:
    """``init_data``: a (graph, features) pair, given only to a scheme that reads it (a graph
    alone failed deep inside DGL; data given to another scheme was ignored)."""
    if init_data is None:
        return
    if not needs_data:
        raise ValueError(f"init_data has no effect with init={init!r}: it does not read the "
                         "data (gnn_he and the *_data schemes do); leave it out")
    graph = init_data[0] if isinstance(init_data, (tuple, list)) and len(init_data) == 2 \
        else None
    graphs = graph if isinstance(graph, (tuple, list)) else [graph]
    if (not graphs or not all(isinstance(g, DGLGraph) for g in graphs)
            or not isinstance(init_data[1], torch.Tensor)):
        raise TypeError(f"init={init!r}: init_data must be a (graph, features) pair, a "
                        f"DGLGraph (or its blocks) and a tensor, got {_describe(init_data)}")


def _describe(value: object) -> str:
    if isinstance(value, (tuple, list)):
        return f"{type(value).__name__} of ({', '.join(type(v).__name__ for v in value)})"
    return type(value).__name__


class _DeepGNN(nn.Module):
    """A stack of graph layers in pre-activation form, optionally with fixup skips.

    Without skips, ``h_l = conv_l(act(h_{l-1}))`` for l >= 2: the usual stack
    ``act(conv(...))``. With ``skip=True`` the hidden layers (whose input and output widths
    agree) become residual branches, ``h_l = h_{l-1} + conv_l(act(h_{l-1}))``, and their
    weights start at zero (fixup): at initialization the model is the 2-layer model formed
    by its first and last layer, and the branches learn from there.
    """

    mode_free = True  # forward reads self.training only through dropout submodules
    has_attention = False  # schemes that only differ in attention are refused without it

    def __init__(self, num_layers: int, activation: Activation, skip: bool, init: str,
                 dropout: float = 0.0, xavier_gain: Optional[float] = None,
                 zero_target_weights: bool = False, init_data: Optional[InitData] = None,
                 logit_spread: float = DEFAULT_LOGIT_SPREAD,
                 balance_beta: Optional[float] = None):
        super().__init__()
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"num_layers must be an integer >= 1, got {num_layers!r}")
        scheme = get_scheme(init)
        if scheme.attention_only and not self.has_attention:
            raise ValueError(f"init={init!r} differs from another scheme only in the attention "
                             f"vectors, and {type(self).__name__} has none; choose from "
                             f"{', '.join(self.schemes())}")
        if num_layers < scheme.min_layers:
            raise ValueError(f"init={init!r} needs at least {scheme.min_layers} layers, "
                             f"got num_layers={num_layers}")
        if scheme.needs_data and init_data is None:
            raise ValueError(f"init={init!r} needs the data: pass init_data=(graph, features)")
        _check_init_data(init_data, init, scheme.needs_data)
        if scheme.data_scaled and skip:
            raise ValueError(f"init={init!r} needs a plain stack (skip=False): with skips "
                             "the output is not homogeneous of degree L in the weights")
        if not isinstance(skip, bool):
            raise TypeError(f"skip must be True or False, got {skip!r}")
        if not callable(activation):
            raise TypeError(f"activation must be callable (e.g. F.relu), got {activation!r}")
        if balance_beta is not None:
            if not scheme.tunable_beta:
                why = ("its data scale sets the weights' scale (logit_spread)"
                       if scheme.data_scaled else "it does not balance")
                raise ValueError(f"balance_beta={balance_beta!r} has no effect with "
                                 f"init={init!r}: {why}; leave it out")
            if (isinstance(balance_beta, bool) or not isinstance(balance_beta, (int, float))
                    or not math.isfinite(balance_beta) or balance_beta <= 0):
                raise ValueError(f"balance_beta must be a positive finite number (or None: "
                                 f"the scheme's own), got {balance_beta!r}")
        if logit_spread != DEFAULT_LOGIT_SPREAD and not scheme.data_scaled:
            raise ValueError(f"logit_spread={logit_spread!r} has no effect with init={init!r}: "
                             "only a data-scaled scheme (bal_o_data, looks_linear_data, ...) "
                             "sets its scale from the data; leave it out")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) \
                or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.num_layers = num_layers
        self.activation = activation
        self.skip = skip
        self.init = init
        self.scheme = scheme
        self.layer_init = scheme.layer_scheme
        self.xavier_gain = xavier_gain
        self.zero_target_weights = zero_target_weights
        self.logit_spread = logit_spread
        self.balance_beta = scheme.balance_beta if balance_beta is None else balance_beta
        self.data_scale: Optional[float] = None
        self._init_data = init_data  # read by _finish_init
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.layers = nn.ModuleList()

    @classmethod
    def schemes(cls) -> List[str]:
        """The init schemes this model takes (:func:`dglbal.init.scheme_names`)."""
        return [name for name in scheme_names()
                if cls.has_attention or not get_scheme(name).attention_only]

    def zero_skip_branches_(self) -> None:
        """Zero the weights of the skip branches (fixup); a no-op without skips."""
        if not self.skip:
            return
        with torch.no_grad():
            for layer in self.layers[1:-1]:
                for weight in feature_weights(layer):
                    weight.zero_()

    def reset_parameters(self, init_data: Optional[InitData] = None) -> None:
        """Reinitialize every layer with the model's scheme, zero the skip branches, and
        finish the scheme (:mod:`dglbal.init.schemes`: balancing, GNN He, the data scale).
        Schemes that need the data measure it again on ``init_data`` when given. Without it,
        ``bal_o_data`` (and the other data-scaled schemes) reuse the factor found at
        construction; ``gnn_he`` keeps no graph and raises ``ValueError``: pass
        ``init_data`` again."""
        for layer in self.layers:
            if isinstance(layer, GraphLayer):  # DGL's layers are redrawn by _finish_init
                layer.reset_parameters()
        if init_data is not None:
            _check_init_data(init_data, self.init, self.scheme.needs_data)
            self._init_data = init_data
        self._finish_init()

    def _finish_init(self) -> None:
        scheme = self.scheme
        for index, layer in enumerate(self.layers):  # DGL's layers: DGL drew them
            if not isinstance(layer, GraphLayer):
                init_layer_(layer, self.layer_init, _position(index, self.num_layers))
        if self.xavier_gain is not None and self.layer_init in _XAVIER_SCHEMES:
            for layer, index in zip(self.layers, range(self.num_layers)):
                if is_attention_layer(layer):
                    init_layer_(layer, self.layer_init, _position(index, self.num_layers),
                                gain=self.xavier_gain)
        if scheme.redraw is not None:
            scheme.redraw(self, self._init_graph() if scheme.needs_graph else None)
        if not scheme.data_scaled:
            self._init_data = None  # read once; bal_o_data keeps its factor for resets
        self.zero_skip_branches_()
        if self.zero_target_weights and self.layer_init == "looks_linear":
            self.zero_target_weights_()
        if self.balance_beta is not None:
            balance_(self, analyze(self), "init", beta=self.balance_beta)
        if scheme.data_scaled:
            self._scale_to_data()

    def _init_graph(self) -> DGLGraph:
        if self._init_data is None:
            raise ValueError(f"init={self.init!r} needs the graph: pass init_data=(graph, "
                             "features) (to reset_parameters too)")
        graph = self._init_data[0]
        return graph if isinstance(graph, DGLGraph) else list(graph)[0]

    def zero_target_weights_(self) -> None:
        """Zero W_t (``fc_dst``) of attention layers without weight sharing: BalO as in the
        paper's code, which balances the source weights W_s only."""
        with torch.no_grad():
            for layer in graph_layers(self):
                fc_src, fc_dst = getattr(layer, "fc_src", None), getattr(layer, "fc_dst", None)
                if fc_dst is not None and fc_dst is not fc_src:
                    fc_dst.weight.zero_()

    def _scale_to_data(self) -> None:
        data, self._init_data = self._init_data, None
        if data is None:  # reset_parameters without data: the factor found before
            with torch.no_grad():
                for parameter in self.parameters():
                    parameter.mul_(self.data_scale)
            return
        graph, feat = data
        self.data_scale = scale_to_logit_spread_(self, graph, feat, self.num_layers,
                                                 self.logit_spread)

    def probe_inputs(self, num_nodes: int = 8, seed: int = 0):
        """A small random graph with self-loops and features, for :func:`dglbal.analyze`."""
        generator = torch.Generator().manual_seed(seed)
        src = torch.randint(0, num_nodes, (3 * num_nodes,), generator=generator)
        dst = torch.randint(0, num_nodes, (3 * num_nodes,), generator=generator)
        graph = dgl.add_self_loop(dgl.graph((src, dst), num_nodes=num_nodes))
        in_feats = getattr(self.layers[0], "_in_src_feats", self.in_feats)  # GAT: pairs too
        reference = next(self.parameters())
        feat = torch.randn(num_nodes, in_feats, generator=generator)
        return graph.to(reference.device), feat.to(reference.device, reference.dtype)

    def _hidden(self, out: torch.Tensor) -> torch.Tensor:
        return out

    def _output(self, out: torch.Tensor) -> torch.Tensor:
        return out

    def forward(self, graph: Union[DGLGraph, Sequence[DGLGraph]], feat: torch.Tensor
                ) -> torch.Tensor:
        """Node outputs of shape (N, out_feats) for features of shape (N, in_feats).

        ``graph`` is one graph for every layer, or one block per layer as produced by
        ``dgl.dataloading`` samplers (then the outputs are those of the last block's
        destination nodes).
        """
        graphs = self._graphs(graph)
        if self.num_layers == 1:
            return self._output(self.layers[0](graphs[0], feat))
        h = self._hidden(self.layers[0](graphs[0], feat))
        for layer, block in zip(self.layers[1:-1], graphs[1:-1]):
            branch = self._hidden(layer(block, self.dropout(self.activation(h))))
            h = h[: branch.shape[0]] + branch if self.skip else branch
        return self._output(self.layers[-1](graphs[-1], self.dropout(self.activation(h))))

    def _graphs(self, graph) -> List[DGLGraph]:
        if isinstance(graph, DGLGraph):
            return [graph] * self.num_layers
        if not isinstance(graph, (list, tuple)) or not all(isinstance(g, DGLGraph)
                                                           for g in graph):
            raise TypeError(f"{type(self).__name__} expects a DGLGraph or a list of blocks "
                            f"(one per layer), got {type(graph).__name__}")
        graphs = list(graph)
        if len(graphs) != self.num_layers:
            raise ValueError(f"{type(self).__name__} has {self.num_layers} layers but got "
                             f"{len(graphs)} blocks")
        return graphs


class GAT(_DeepGNN):
    r"""A deep GAT (GATv2 by default, as in "Are GATs Out of Balance?").

    Hidden layers concatenate their heads (width ``num_heads * hidden_feats``); the last
    layer averages its ``last_layer_heads`` heads (``num_heads`` by default; the paper's code
    uses 1). Biases are off by default, as in the paper.

    Parameters
    ----------
    in_feats, hidden_feats, out_feats : int
        Input, per-head hidden and output widths.
    num_layers : int
        Number of graph layers L.
    num_heads : int
        Attention heads per layer.
    share_weights : bool
        GATv2: one feature weight for source and target nodes.
    bias : bool
        Biases in the feature transforms.
    activation : callable
        Positively homogeneous activation between layers (ReLU).
    skip : bool
        Fixup-type skip connections around the hidden layers (branch weights start at zero).
    residual_alpha : float
        Residual aggregation (1 - alpha) A + alpha I in every layer.
    init : str
        Layer scheme (see :mod:`dglbal.init`); looks-linear gets the first / hidden / last
        block forms by position. ``bal_x`` / ``bal_o`` are balanced; ``bal_o_data`` is BalO
        with its initial logit spread set to ``logit_spread`` on ``init_data`` by scaling
        every weight by one factor, which keeps the balance (:mod:`dglbal.init.data_scale`).
    conv : str
        ``"gatv2"`` or ``"gat"`` (GATConv).
    dropout : float
        One rate for the hidden features after each activation (not the input features)
        and, unless ``attn_drop`` is given, for the attention coefficients of every layer:
        the placement of the paper's code.
    last_layer_heads : int, optional
        Heads of the last layer (default ``num_heads``).
    xavier_gain : float, optional
        Xavier-normal gain for ``xavier`` / ``xavier_zero_attention`` / ``bal_x``
        (default: DGL's, sqrt 2; the paper's code uses 1).
    zero_target_weights : bool
        Looks-linear schemes without weight sharing: W_t (``fc_dst``) starts at zero and
        only W_s is balanced, as in the paper's code.
    init_data : (graph, features), optional
        The data ``bal_o_data`` measures its initial logits on.
    logit_spread : float
        ``bal_o_data``'s target spread of the initial logits.
    balance_beta : float, optional
        ``bal_x`` / ``bal_o``: the ``beta`` they balance with (the first neurons' incoming
        squared norm; default: the scheme's own, the paper's 2). Refused with a scheme that
        does not balance and with ``bal_o_data`` (its data scale undoes any ``beta``).

    Raises
    ------
    ValueError
        For sizes that are not positive integers, a rate outside [0, 1), an unknown ``conv``
        or scheme, a ``last_layer_heads`` that is not a positive integer, too few layers for
        the scheme, or a data-needing scheme without ``init_data``.
    TypeError
        If ``skip`` is not a bool or ``activation`` is not callable.

    Examples
    --------
    >>> import dgl, torch
    >>> from dglbal.nn import GAT
    >>> g = dgl.add_self_loop(dgl.rand_graph(30, 90))
    >>> model = GAT(16, 8, 3, num_layers=5, num_heads=2, init="looks_linear")
    >>> model(g, torch.randn(30, 16)).shape
    torch.Size([30, 3])
    """

    has_attention = True

    def __init__(
        self,
        in_feats: int,
        hidden_feats: int,
        out_feats: int,
        num_layers: int,
        *,
        num_heads: int = 1,
        share_weights: bool = True,
        bias: bool = False,
        activation: Activation = F.relu,
        skip: bool = False,
        residual_alpha: float = 0.0,
        init: str = "xavier",
        conv: str = "gatv2",
        negative_slope: float = 0.2,
        feat_drop: float = 0.0,
        attn_drop: Optional[float] = None,
        allow_zero_in_degree: bool = False,
        dropout: float = 0.0,
        last_layer_heads: Optional[int] = None,
        xavier_gain: Optional[float] = None,
        zero_target_weights: bool = False,
        init_data: Optional[InitData] = None,
        logit_spread: float = DEFAULT_LOGIT_SPREAD,
        balance_beta: Optional[float] = None,
    ):
        super().__init__(num_layers, activation, skip, init, dropout=dropout,
                         xavier_gain=xavier_gain, zero_target_weights=zero_target_weights,
                         init_data=init_data, logit_spread=logit_spread,
                         balance_beta=balance_beta)
        if conv not in ("gatv2", "gat"):
            raise ValueError(f"conv must be 'gatv2' or 'gat', got {conv!r}")
        if last_layer_heads is not None and (isinstance(last_layer_heads, bool) or not
                                             isinstance(last_layer_heads, int) or
                                             last_layer_heads < 1):
            raise ValueError(f"last_layer_heads must be a positive integer, got "
                             f"{last_layer_heads!r}")
        self.in_feats = in_feats
        last_heads = num_heads if last_layer_heads is None else last_layer_heads
        attn_drop = dropout if attn_drop is None else attn_drop
        width = hidden_feats * num_heads
        dims = [in_feats] + [width] * (num_layers - 1)
        outs = [hidden_feats] * (num_layers - 1) + [out_feats]
        heads = [num_heads] * (num_layers - 1) + [last_heads]
        for index, (d_in, d_out, h) in enumerate(zip(dims, outs, heads)):
            kwargs = dict(feat_drop=feat_drop, attn_drop=attn_drop, negative_slope=negative_slope,
                          allow_zero_in_degree=allow_zero_in_degree, bias=bias,
                          init=self.layer_init,
                          init_position=_position(index, num_layers),
                          residual_alpha=residual_alpha)
            if conv == "gatv2":
                layer = GATv2Conv(d_in, d_out, h, share_weights=share_weights, **kwargs)
            else:
                layer = GATConv(d_in, d_out, h, **kwargs)
            self.layers.append(layer)
        self._finish_init()

    def _hidden(self, out: torch.Tensor) -> torch.Tensor:
        return out.flatten(1)

    def _output(self, out: torch.Tensor) -> torch.Tensor:
        return out.mean(1)
