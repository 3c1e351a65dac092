"""A deep GIN built from DGL's own ``GINConv`` (sum aggregation, no normalization layers)."""
from __future__ import annotations

from typing import List, Optional

import dgl.nn.pytorch as dglnn
import torch.nn.functional as F
from torch import nn

from dglbal.init import DEFAULT_LOGIT_SPREAD

from ._checks import check_sizes
from .models import Activation, InitData, _DeepGNN

__all__ = ["GIN"]


class GIN(_DeepGNN):
    r"""A stack of DGL's :class:`dgl.nn.GINConv` layers with ReLU in between.

    Layer l computes ``h_v' = W_l ((1 + eps) h_v + sum_u h_u)``: sum aggregation over the
    in-neighbours, ``eps = 0`` fixed (``learn_eps=False``, GIN-0), and one ``nn.Linear`` per
    layer as ``apply_func``. One Linear rather than the GIN paper's 2-layer MLP, so that a
    model of L graph layers has L weight matrices and L - 1 ReLUs, as :class:`GCN`,
    :class:`SAGE` and :class:`GAT` of the same L: a depth study compares architectures at
    one depth, and each hidden neuron is one rescale group of the analyser. No batch or
    layer normalization, so the model is positively homogeneous in its weights and the
    rescale symmetries (and balancing) are exact.

    Sum aggregation grows features by the operator's spectral radius per layer (about the
    mean degree plus one): ``init="gnn_he"`` divides each layer's weights by it (DeZoort &
    Hanin); ``xavier`` (Xavier-uniform, ReLU gain, on each Linear: DGL leaves GIN's MLP at
    PyTorch's default) and ``he`` do not. ``looks_linear`` / ``bal_o`` / ``bal_x`` draw each
    Linear like a GCN weight (:mod:`dglbal.init.layers`). Schemes that differ from another
    only in attention vectors (``xavier_zero_attention``, ``ll_ortho``) are refused.

    Parameters
    ----------
    in_feats, hidden_feats, out_feats : int
        Input, hidden and output widths.
    num_layers : int
        Number of graph layers L.
    bias : bool
        Biases in the Linears (off by default, as in the papers' deep models).
    activation : callable
        Positively homogeneous activation between layers (ReLU).
    skip : bool
        Fixup-type skip connections around the hidden layers (branch weights start at zero).
    init : str
        A scheme of :func:`dglbal.init.scheme_names` (see above).
    dropout : float
        Dropout on the hidden features after each activation.
    init_data : (graph, features), optional
        The data ``gnn_he`` and ``bal_o_data`` measure.
    logit_spread : float
        ``bal_o_data``'s target spread of the initial logits.
    balance_beta : float, optional
        ``bal_x`` / ``bal_o``: the ``beta`` they balance with (default: the scheme's, 2).

    Examples
    --------
    >>> import dgl, torch, dglbal
    >>> from dglbal.nn import GIN
    >>> g = dgl.add_self_loop(dgl.rand_graph(30, 90))
    >>> model = GIN(16, 8, 3, num_layers=4, init="bal_o")
    >>> model(g, torch.randn(30, 16)).shape
    torch.Size([30, 3])
    >>> len(dglbal.analyze(model).groups)  # one group per hidden neuron: 3 layers x 8
    24
    """

    def __init__(self, in_feats: int, hidden_feats: int, out_feats: int, num_layers: int, *,
                 bias: bool = False, activation: Activation = F.relu, skip: bool = False,
                 init: str = "xavier", dropout: float = 0.0,
                 init_data: Optional[InitData] = None,
                 logit_spread: float = DEFAULT_LOGIT_SPREAD,
                 balance_beta: Optional[float] = None):
        super().__init__(num_layers, activation, skip, init, dropout=dropout,
                         init_data=init_data, logit_spread=logit_spread,
                         balance_beta=balance_beta)
        if isinstance(in_feats, tuple):
            raise ValueError(f"GIN: in_feats must be one integer (GINConv adds a node's own "
                             f"features to its neighbours'), got {in_feats!r}")
        check_sizes("GIN", in_feats=in_feats, hidden_feats=hidden_feats, out_feats=out_feats)
        self.in_feats = in_feats
        dims: List[int] = [in_feats] + [hidden_feats] * (num_layers - 1) + [out_feats]
        for index in range(num_layers):
            linear = nn.Linear(dims[index], dims[index + 1], bias=bias)
            self.layers.append(dglnn.GINConv(linear, "sum", init_eps=0.0, learn_eps=False))
        self._finish_init()
