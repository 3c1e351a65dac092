"""GCN: a deep stack of :class:`dglbal.nn.GraphConv` layers."""
from __future__ import annotations

from typing import List, Optional

import torch.nn.functional as F

from dglbal.init import DEFAULT_LOGIT_SPREAD

from .graphconv import GraphConv
from .models import Activation, InitData, _DeepGNN, _position

__all__ = ["GCN"]


class GCN(_DeepGNN):
    r"""A deep GCN of :class:`dglbal.nn.GraphConv` layers.

    Takes the same keyword options as :class:`GAT` where they apply (no heads, no attention;
    ``dropout`` acts on the hidden features); ``norm`` selects GraphConv's normalization.
    Schemes that differ from another only in attention vectors (``xavier_zero_attention``,
    ``ll_ortho``) are refused.

    Parameters
    ----------
    in_feats, hidden_feats, out_feats : int
        Input, hidden and output widths.
    num_layers : int
        Number of graph layers L.
    bias : bool, default False
        Biases in the layers.
    activation : callable, default F.relu
        Positively homogeneous activation between layers (ReLU).
    skip : bool, default False
        Fixup-type skip connections around the hidden layers (branch weights start at zero).
    residual_alpha : float, default 0.0
        Residual aggregation (1 - alpha) A + alpha I in every layer.
    init : str, default "xavier"
        A scheme of :mod:`dglbal.init.schemes` (``he``, ``gnn_he``, ``looks_linear``, ``bal_x``,
        ``bal_o``, ``bal_o_data``, ...).
    norm : str, default "both"
        GraphConv's normalization (``"both"``, ``"right"``, ``"left"``, ``"none"``).
    allow_zero_in_degree : bool, default False
        As in DGL: refuse graphs with 0-in-degree nodes unless True.
    dropout : float, default 0.0
        Dropout on the hidden features after each activation.
    init_data : (graph, features), optional
        The data of schemes that read it (``gnn_he``, ``bal_o_data``).
    logit_spread : float, default 1.0
        ``bal_o_data``'s initial logit spread.
    balance_beta : float, optional
        ``bal_x`` / ``bal_o``: the ``beta`` they balance with (default: the scheme's, 2).

    Raises
    ------
    ValueError
        For sizes that are not positive integers, a dropout rate outside [0, 1), an unknown
        scheme, too few layers for the scheme, or a data-needing scheme without
        ``init_data``.
    TypeError
        If ``skip`` is not a bool or ``activation`` is not callable.

    Examples
    --------
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
        dropout: float = 0.0,
        init_data: Optional[InitData] = None,
        logit_spread: float = DEFAULT_LOGIT_SPREAD,
        balance_beta: Optional[float] = None,
    ):
        super().__init__(num_layers, activation, skip, init, dropout=dropout,
                         init_data=init_data, logit_spread=logit_spread,
                         balance_beta=balance_beta)
        self.in_feats = in_feats
        dims: List[int] = [in_feats] + [hidden_feats] * (num_layers - 1) + [out_feats]
        for index in range(num_layers):
            self.layers.append(GraphConv(
                dims[index], dims[index + 1], norm=norm, bias=bias,
                allow_zero_in_degree=allow_zero_in_degree, init=self.layer_init,
                init_position=_position(index, num_layers), residual_alpha=residual_alpha))
        self._finish_init()
