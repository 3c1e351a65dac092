"""THE registry of model-level initialization schemes: one entry per name.

A scheme is declarative: the layer scheme every graph layer gets first (:func:`init_layer_`),
an optional model-level redraw that may need the graph (GNN He's spectral radius), whether
the model is then balanced (init mode, Procedure 2.6) and whether its scale is then set from
the data (``bal_o_data``). The model builders (:class:`dglbal.nn.GAT`, ...), the experiment
configuration, the command line's ``--init`` choices and the distributed trainer all read
this table, so a new scheme is one :func:`register_scheme` call here.

Examples
--------
>>> from dglbal.init.schemes import get_scheme, scheme_names
>>> get_scheme("bal_o").layer_scheme
'looks_linear'
>>> "gnn_he" in scheme_names()
True
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import torch
from torch import nn

from .gnn_he import gnn_he_
from .layers import LAYER_SCHEMES, attention_parameters, graph_layers

__all__ = ["InitScheme", "register_scheme", "get_scheme", "scheme_names"]

Redraw = Callable[[nn.Module, Optional[object]], None]


@dataclass(frozen=True)
class InitScheme:
    """One named initialization of a deep graph model.

    Parameters
    ----------
    name : str
        The name users pass (``init=`` of the builders, ``--init`` on the command line).
    description : str
        One line for help texts.
    layer_scheme : str
        What each graph layer gets first: one of :data:`dglbal.init.layers.LAYER_SCHEMES`.
    redraw : callable, optional
        ``redraw(model, graph)``: a model-level redraw after the layer scheme and before the
        architecture's own zeroing (fixup skip branches). ``graph`` is ``None`` unless
        ``needs_graph``.
    needs_graph : bool
        The redraw needs the training graph.
    balance_beta : float, optional
        Balance in init mode with this ``beta`` afterwards (BalX, BalO).
    data_scaled : bool
        Then scale every weight by one factor so that the initial logits have a given spread
        on the data (:mod:`dglbal.init.data_scale`); needs the graph and its features, and a
        plain stack (no skips).
    min_layers : int
        The fewest graph layers the scheme works with (looks-linear needs two).
    attention_only : bool
        The scheme differs from another only in the attention vectors (XavZ from Xavier,
        LLortho from looks-linear): the builders of models without attention
        (:class:`dglbal.nn.GCN`, :class:`dglbal.nn.SAGE`, :class:`dglbal.nn.GIN`) refuse it
        rather than silently run the other one.

    Examples
    --------
    >>> scheme = get_scheme("bal_o")
    >>> scheme.layer_scheme, scheme.balance_beta, scheme.min_layers
    ('looks_linear', 2.0, 2)
    >>> mine = InitScheme("he_balanced", "He, then balanced", "he", balance_beta=2.0)
    >>> mine.needs_graph
    False

    ``register_scheme(mine)`` would make ``init="he_balanced"`` and ``--init he_balanced``.
    """

    name: str
    description: str
    layer_scheme: str
    redraw: Optional[Redraw] = None
    needs_graph: bool = False
    balance_beta: Optional[float] = None
    data_scaled: bool = False
    min_layers: int = 1
    attention_only: bool = False

    @property
    def tunable_beta(self) -> bool:
        """Whether another ``beta`` gives another model: balanced and not data-scaled
        (balancing with ``beta`` multiplies every weight by ``sqrt(beta / 2)`` relative to
        ``beta = 2``, which the data scale of ``bal_o_data`` then undoes)."""
        return self.balance_beta is not None and not self.data_scaled

    @property
    def needs_data(self) -> bool:
        """Whether building a model with this scheme needs the graph (and its features)."""
        return self.needs_graph or self.data_scaled


_SCHEMES: Dict[str, InitScheme] = {}


def register_scheme(scheme: InitScheme) -> InitScheme:
    """Add ``scheme`` to the registry (a new name, a known layer scheme); returns it.

    Parameters
    ----------
    scheme : InitScheme
        The scheme; its name must be new.

    Returns
    -------
    InitScheme
        ``scheme``, so that it can be used as a decorator's result or kept.

    Raises
    ------
    ValueError
        If the name is registered already or ``layer_scheme`` is not one of
        :data:`~dglbal.init.layers.LAYER_SCHEMES`.

    Examples
    --------
    >>> try:
    ...     register_scheme(get_scheme("he"))
    ... except ValueError as error:
    ...     print(error)
    init scheme 'he' is registered already
    """
    if scheme.name in _SCHEMES:
        raise ValueError(f"init scheme {scheme.name!r} is registered already")
    if scheme.layer_scheme not in LAYER_SCHEMES:
        raise ValueError(f"init scheme {scheme.name!r}: layer_scheme must be one of "
                         f"{LAYER_SCHEMES}, got {scheme.layer_scheme!r}")
    _SCHEMES[scheme.name] = scheme
    return scheme


def get_scheme(name: str) -> InitScheme:
    """The registered scheme called ``name``.

    Parameters
    ----------
    name : str
        A name of :func:`scheme_names`.

    Returns
    -------
    InitScheme
        The scheme.

    Raises
    ------
    ValueError
        An unknown name; the message lists the known ones.

    Examples
    --------
    >>> get_scheme("bal_o").layer_scheme
    'looks_linear'
    """
    if not isinstance(name, str) or name not in _SCHEMES:
        raise ValueError(f"unknown init scheme {name!r}; choose from {', '.join(_SCHEMES)}")
    return _SCHEMES[name]


def scheme_names() -> Tuple[str, ...]:
    """Every registered scheme's name, in registration order.

    Returns
    -------
    tuple of str
        The names the builders' ``init=`` and ``dglbal train --init`` take.

    Examples
    --------
    >>> "xavier" in scheme_names() and "bal_o" in scheme_names()
    True
    """
    return tuple(_SCHEMES)


def _gnn_he(model: nn.Module, graph) -> None:
    gnn_he_(model, graph)


def _xavier_attention(model: nn.Module, graph) -> None:
    gain = nn.init.calculate_gain("relu")
    with torch.no_grad():
        for layer in graph_layers(model):
            for a in attention_parameters(layer):
                nn.init.xavier_normal_(a, gain=gain)


for _scheme in (
    InitScheme("xavier", "DGL's default: Xavier feature and attention weights (Xav)", "xavier"),
    InitScheme("xavier_zero_attention", "Xavier feature weights, zero attention (XavZ)",
               "xavier_zero_attention", attention_only=True),
    InitScheme("he", "He-normal feature weights, N(0, 2 / fan_in)", "he"),
    InitScheme("looks_linear", "looks-linear orthogonal weights, zero attention (LLortho "
               "with zero attention)", "looks_linear", min_layers=2),
    InitScheme("bal_x", "BalX: Xavier, zero attention, balanced with beta = 2 "
               "(--balance-beta)", "xavier", balance_beta=2.0),
    InitScheme("bal_o", "BalO: looks-linear orthogonal, zero attention, balanced with beta = 2 "
               "(--balance-beta)", "looks_linear", balance_beta=2.0, min_layers=2),
    InitScheme("bal_o_data", "BalO with every weight scaled so the initial logits have a set "
               "spread on the data (--logit-spread)", "looks_linear", balance_beta=2.0,
               data_scaled=True, min_layers=2),
    InitScheme("looks_linear_data", "looks-linear orthogonal, zero attention, not balanced, "
               "every weight scaled so the initial logits have a set spread on the data "
               "(--logit-spread): BalO's output scale without its balance",
               "looks_linear", data_scaled=True, min_layers=2),
    InitScheme("xavier_zero_attention_data", "Xavier, zero attention, not balanced, every "
               "weight scaled so the initial logits have a set spread on the data "
               "(--logit-spread): BalX's output scale without its balance",
               "xavier_zero_attention", data_scaled=True, attention_only=True),
    InitScheme("gnn_he", "GNN He: N(0, 2 / (fan_in rho(A)^2)) with rho(A) the spectral radius "
               "of each layer's aggregation on the graph", "he", redraw=_gnn_he,
               needs_graph=True),
    InitScheme("ll_ortho", "LLortho: looks-linear orthogonal weights with Xavier attention "
               "(Dynamic Rescaling for Training GNNs)", "looks_linear", redraw=_xavier_attention,
               min_layers=2, attention_only=True),
):
    register_scheme(_scheme)
