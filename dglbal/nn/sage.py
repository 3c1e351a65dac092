"""A deep GraphSAGE built from DGL's own ``SAGEConv`` (a model outside dglbal's layers)."""
from __future__ import annotations

from typing import List

import dgl.nn.pytorch as dglnn
import torch.nn.functional as F

from .models import Activation, _DeepGNN

__all__ = ["SAGE"]


class SAGE(_DeepGNN):
    r"""A stack of DGL's :class:`dgl.nn.SAGEConv` layers with ReLU in between.

    The layers are DGL's, untouched, with DGL's initialization (``init="xavier"``: Xavier-
    uniform with ReLU gain); :func:`dglbal.analyze` finds their symmetries like those of any
    other model. Same forward conventions as :class:`dglbal.nn.GAT` (one graph, or one block
    per layer; fixup skips around the hidden layers with ``skip=True``).

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
        Only ``"xavier"``: DGL's own initialization. Balance the model afterwards
        (:func:`dglbal.analyze_and_balance`, :func:`dglbal.init.balanced_orthogonal_`).

    Raises
    ------
    ValueError
        For another ``init``, or a ``num_layers`` that is not a positive integer (DGL's
        ``SAGEConv`` checks its own sizes and aggregator).

    Examples
    --------
    >>> import dgl, torch
    >>> from dglbal.nn import SAGE
    >>> g = dgl.add_self_loop(dgl.rand_graph(30, 90))
    >>> model = SAGE(16, 8, 3, num_layers=4, aggregator="mean")
    >>> model(g, torch.randn(30, 16)).shape
    torch.Size([30, 3])
    """

    def __init__(self, in_feats: int, hidden_feats: int, out_feats: int, num_layers: int, *,
                 aggregator: str = "mean", bias: bool = False,
                 activation: Activation = F.relu, skip: bool = False, init: str = "xavier"):
        if init != "xavier":
            raise ValueError(f"SAGE keeps DGL's initialization (init='xavier'); got {init!r}")
        super().__init__(num_layers, activation, skip, init)
        dims: List[int] = [in_feats] + [hidden_feats] * (num_layers - 1) + [out_feats]
        for index in range(num_layers):
            self.layers.append(dglnn.SAGEConv(dims[index], dims[index + 1], aggregator,
                                              bias=bias))
        self._finish_init()

    def zero_skip_branches_(self) -> None:
        """Fixup: zero the hidden layers' weights when there are skips."""
        if self.skip:
            for layer in self.layers[1:-1]:
                for p in layer.parameters():
                    p.data.zero_()
