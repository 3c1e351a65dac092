"""Deep GAT and GCN builders with the papers' initialization and architecture options."""
from __future__ import annotations

from typing import Callable, List, Sequence, Union

import dgl
import torch
import torch.nn.functional as F
from dgl import DGLGraph
from torch import nn

from ..init import LAYER_SCHEMES, feature_weights

# Model-level schemes: a per-layer base, then init-mode balancing with beta = 2 (Procedure 2.6).
BALANCED = {"bal_x": ("xavier", 2.0), "bal_o": ("looks_linear", 2.0)}
MODEL_SCHEMES = LAYER_SCHEMES + tuple(BALANCED)
from .gatconv import GATConv
from .gatv2conv import GATv2Conv
from .graphconv import GraphConv

Activation = Callable[[torch.Tensor], torch.Tensor]


def _position(index: int, num_layers: int) -> str:
    if index == 0:
        return "first"
    return "last" if index == num_layers - 1 else "hidden"


class _DeepGNN(nn.Module):
    """A stack of graph layers in pre-activation form, optionally with fixup skips.

    Without skips, ``h_l = conv_l(act(h_{l-1}))`` for l >= 2: the usual stack
    ``act(conv(...))``. With ``skip=True`` the hidden layers (whose input and output widths
    agree) become residual branches, ``h_l = h_{l-1} + conv_l(act(h_{l-1}))``, and their
    weights start at zero (fixup): at initialization the model is the 2-layer model formed
    by its first and last layer, and the branches learn from there.
    """

    def __init__(self, num_layers: int, activation: Activation, skip: bool, init: str):
        super().__init__()
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"num_layers must be an integer >= 1, got {num_layers!r}")
        if init not in MODEL_SCHEMES:
            raise ValueError(
                f"unknown init scheme {init!r} for a model builder; choose from {MODEL_SCHEMES}"
                " (gnn_he_ needs the graph: call dglbal.init.gnn_he_(model, graph))")
        if init in ("looks_linear", "bal_o") and num_layers < 2:
            raise ValueError("looks-linear initialization needs at least 2 layers")
        self.num_layers = num_layers
        self.activation = activation
        self.skip = skip
        self.init = init
        self.layer_init = BALANCED[init][0] if init in BALANCED else init
        self.layers = nn.ModuleList()

    def zero_skip_branches_(self) -> None:
        """Zero the weights of the skip branches (fixup); a no-op without skips."""
        if not self.skip:
            return
        with torch.no_grad():
            for layer in self.layers[1:-1]:
                for weight in feature_weights(layer):
                    weight.zero_()

    def reset_parameters(self) -> None:
        """Reinitialize every layer with the model's scheme, zero the skip branches, and
        balance for ``bal_x`` / ``bal_o``."""
        for layer in self.layers:
            layer.reset_parameters()
        self._finish_init()

    def _finish_init(self) -> None:
        self.zero_skip_branches_()
        if self.init in BALANCED:
            from ..balance import balance_
            from ..symmetry import analyze

            balance_(self, analyze(self), "init", beta=BALANCED[self.init][1])

    def probe_inputs(self, num_nodes: int = 8, seed: int = 0):
        """A small random graph with self-loops and features, for :func:`dglbal.analyze`."""
        generator = torch.Generator().manual_seed(seed)
        src = torch.randint(0, num_nodes, (3 * num_nodes,), generator=generator)
        dst = torch.randint(0, num_nodes, (3 * num_nodes,), generator=generator)
        graph = dgl.add_self_loop(dgl.graph((src, dst), num_nodes=num_nodes))
        first = self.layers[0]
        in_feats = getattr(first, "_in_src_feats", getattr(first, "_in_feats", None))
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
            branch = self._hidden(layer(block, self.activation(h)))
            h = h[: branch.shape[0]] + branch if self.skip else branch
        return self._output(self.layers[-1](graphs[-1], self.activation(h)))

    def _graphs(self, graph) -> List[DGLGraph]:
        if isinstance(graph, DGLGraph):
            return [graph] * self.num_layers
        graphs = list(graph)
        if len(graphs) != self.num_layers:
            raise ValueError(f"{type(self).__name__} has {self.num_layers} layers but got "
                             f"{len(graphs)} blocks")
        return graphs


class GAT(_DeepGNN):
    r"""A deep GAT (GATv2 by default, as in "Are GATs Out of Balance?").

    Hidden layers concatenate their heads (width ``num_heads * hidden_feats``); the last
    layer averages them. Biases are off by default, as in the paper.

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
        block forms by position.
    conv : str
        ``"gatv2"`` or ``"gat"`` (GATConv).

    Example
    -------
    >>> import dgl, torch
    >>> from dglbal.nn import GAT
    >>> g = dgl.add_self_loop(dgl.rand_graph(30, 90))
    >>> model = GAT(16, 8, 3, num_layers=5, num_heads=2, init="looks_linear")
    >>> model(g, torch.randn(30, 16)).shape
    torch.Size([30, 3])
    """

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
        attn_drop: float = 0.0,
        allow_zero_in_degree: bool = False,
    ):
        super().__init__(num_layers, activation, skip, init)
        if conv not in ("gatv2", "gat"):
            raise ValueError(f"conv must be 'gatv2' or 'gat', got {conv!r}")
        width = hidden_feats * num_heads
        dims = [in_feats] + [width] * (num_layers - 1)
        outs = [hidden_feats] * (num_layers - 1) + [out_feats]
        for index, (d_in, d_out) in enumerate(zip(dims, outs)):
            kwargs = dict(feat_drop=feat_drop, attn_drop=attn_drop, negative_slope=negative_slope,
                          allow_zero_in_degree=allow_zero_in_degree, bias=bias,
                          init=self.layer_init,
                          init_position=_position(index, num_layers),
                          residual_alpha=residual_alpha)
            if conv == "gatv2":
                layer = GATv2Conv(d_in, d_out, num_heads, share_weights=share_weights, **kwargs)
            else:
                layer = GATConv(d_in, d_out, num_heads, **kwargs)
            self.layers.append(layer)
        self._finish_init()

    def _hidden(self, out: torch.Tensor) -> torch.Tensor:
        return out.flatten(1)

    def _output(self, out: torch.Tensor) -> torch.Tensor:
        return out.mean(1)


class GCN(_DeepGNN):
    r"""A deep GCN of :class:`dglbal.nn.GraphConv` layers.

    Takes the same keyword options as :class:`GAT` where they apply (no heads, no attention);
    ``norm`` selects GraphConv's normalization.

    Example
    -------
    >>> import dgl, torch
    >>> from dglbal.nn import GCN
    >>> g = dgl.add_self_loop(dgl.rand_graph(30, 90))
    >>> model = GCN(16, 8, 3, num_layers=10, skip=True, residual_alpha=0.1, init="he")
    >>> model(g, torch.randn(30, 16)).shape
    torch.Size([30, 3])
    """

    def __init__(
        self,
        in_feats: int,
        hidden_feats: int,
        out_feats: int,
        num_layers: int,
        *,
        bias: bool = False,
        activation: Activation = F.relu,
        skip: bool = False,
        residual_alpha: float = 0.0,
        init: str = "xavier",
        norm: str = "both",
        allow_zero_in_degree: bool = False,
    ):
        super().__init__(num_layers, activation, skip, init)
        dims: List[int] = [in_feats] + [hidden_feats] * (num_layers - 1) + [out_feats]
        for index in range(num_layers):
            self.layers.append(GraphConv(
                dims[index], dims[index + 1], norm=norm, bias=bias,
                allow_zero_in_degree=allow_zero_in_degree, init=self.layer_init,
                init_position=_position(index, num_layers), residual_alpha=residual_alpha))
        self._finish_init()
