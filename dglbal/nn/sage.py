"""A deep GraphSAGE built from DGL's own ``SAGEConv`` (a model outside dglbal's layers)."""
from __future__ import annotations

from typing import List, Optional

import dgl.nn.pytorch as dglnn
import torch.nn.functional as F

from dglbal.init import DEFAULT_LOGIT_SPREAD

from ._checks import check_sizes
from .models import Activation, InitData, _DeepGNN

__all__ = ["SAGE"]


class SAGE(_DeepGNN):
    r"""A stack of DGL's :class:`dgl.nn.SAGEConv` layers with ReLU in between.

    The layers are DGL's, untouched; :func:`dglbal.analyze` finds their symmetries like
    those of any other model (one rescale group per hidden neuron). Same forward conventions
    as :class:`dglbal.nn.GAT` (one graph, or one block per layer; fixup skips around the
    hidden layers with ``skip=True``; ``dropout`` on the hidden features).

    A layer computes ``fc_self(h_v) + fc_neigh(mean_u h_u)``: one linear map ``[W_self |
    W_neigh]`` of the concatenation ``[h_v, mean_u h_u]`` (the original GraphSAGE). The init
    schemes (:mod:`dglbal.init.schemes`) draw that map:

    - ``xavier``: DGL's own ``reset_parameters``: each of ``W_self``, ``W_neigh``
      Xavier-uniform with ReLU gain, on its own fan-in and fan-out;
    - ``he``: every entry of both N(0, 2 / (2 in_feats)), He for the concatenation (each
      weight on its own fan-in would double the second moment per layer);
    - ``gnn_he``: ``he`` with the spectral radius of the neighbour operator (1 for ``mean`` and
      ``gcn`` when every node has an in-edge, as with self-loops);
    - ``looks_linear``: ``W_self`` and ``W_neigh`` each in looks-linear block form from
      ``U_self``, ``U_neigh`` with ``[U_self | U_neigh]`` orthogonal
      (:func:`dglbal.init.tensor.looks_linear_blocks_`): the network computes a linear
      function at initialization, orthogonal on the concatenation;
    - ``bal_x`` / ``bal_o`` / ``bal_o_data``: ``xavier`` / ``looks_linear``, then balanced in
      init mode over the analyser's groups (a hidden neuron's incoming weights are its rows
      of both ``W_self`` and ``W_neigh``, its outgoing ones the next layer's columns of both).

    With ``aggregator="gcn"`` there is no ``W_self`` (one block). ``pool`` and ``lstm`` have
    an inner transform (``fc_pool`` / an LSTM) on which He and looks-linear are not defined:
    they take ``xavier`` (DGL's) only. ``xavier_zero_attention`` and ``ll_ortho`` differ from
    ``xavier`` and ``looks_linear`` only in attention vectors, which SAGE has not: refused.

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
    aggregator : str, default "mean"
        DGL's ``SAGEConv`` aggregator (``"mean"``, ``"gcn"``, ``"pool"``, ``"lstm"``).
    init : str, default "xavier"
        A scheme of :func:`dglbal.init.scheme_names` (see above).
    dropout : float, default 0.0
        Dropout on the hidden features after each activation.
    init_data : (graph, features), optional
        The data ``gnn_he`` and ``bal_o_data`` measure.
    logit_spread : float
        ``bal_o_data``'s target spread of the initial logits.
    balance_beta : float, optional
        ``bal_x`` / ``bal_o``: the ``beta`` they balance with (default: the scheme's, 2).

    Raises
    ------
    ValueError
        For sizes or a ``num_layers`` that are not positive integers, an unknown
        ``aggregator``, an attention-only scheme, He / looks-linear schemes with ``pool`` or
        ``lstm``, or an odd width with a looks-linear scheme.

    Examples
    --------
    >>> import dgl, torch
    >>> from dglbal.nn import SAGE
    >>> g = dgl.add_self_loop(dgl.rand_graph(30, 90))
    >>> model = SAGE(16, 8, 3, num_layers=4, aggregator="mean", init="bal_o")
    >>> model(g, torch.randn(30, 16)).shape
    torch.Size([30, 3])
    """

    def __init__(self, in_feats: int, hidden_feats: int, out_feats: int, num_layers: int, *,
                 aggregator: str = "mean", bias: bool = False,
                 activation: Activation = F.relu, skip: bool = False, init: str = "xavier",
                 dropout: float = 0.0, init_data: Optional[InitData] = None,
                 logit_spread: float = DEFAULT_LOGIT_SPREAD,
                 balance_beta: Optional[float] = None):
        aggregators = ("mean", "gcn", "pool", "lstm")
        if aggregator not in aggregators:
            raise ValueError(f"aggregator must be one of {', '.join(aggregators)}, got "
                             f"{aggregator!r}")
        super().__init__(num_layers, activation, skip, init, dropout=dropout,
                         init_data=init_data, logit_spread=logit_spread,
                         balance_beta=balance_beta)
        if aggregator in ("pool", "lstm") and self.layer_init != "xavier":
            raise ValueError(f"init={init!r} is not defined for aggregator={aggregator!r} "
                             "(its inner transform, fc_pool / LSTM, is not a feature map); "
                             "use aggregator='mean' or 'gcn', or init='xavier'")
        check_sizes("SAGE", in_feats=in_feats, hidden_feats=hidden_feats, out_feats=out_feats)
        self.in_feats = in_feats
        dims: List[int] = [in_feats] + [hidden_feats] * (num_layers - 1) + [out_feats]
        for index in range(num_layers):
            self.layers.append(dglnn.SAGEConv(dims[index], dims[index + 1], aggregator,
                                              bias=bias))
        self._finish_init()
