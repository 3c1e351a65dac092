"""Initialization of deep graph models, in the style of ``torch.nn.init``.

- :mod:`.tensor`: one weight at a time (looks-linear orthogonal, He-normal);
- :mod:`.layers`: graph layers and the models holding them (Xavier, XavZ, He, looks-linear);
- :mod:`.gnn_he`: GNN He, from the spectral radius of the graph's aggregation operator;
- :mod:`.balanced`: BalX, BalO and unbalanced looks-linear (LLortho) on any model the
  analyser handles;
- :mod:`.data_scale`: ``bal_o_data``'s scale from the data;
- :mod:`.schemes`: THE registry of named model-level schemes.

Functions ending in ``_`` change parameters in place and return what they were given.
"""
from .balanced import balanced_orthogonal_, balanced_xavier_, looks_linear_
from .data_scale import DEFAULT_LOGIT_SPREAD, logit_spread, scale_to_logit_spread_
from .gnn_he import aggregation_matrix, gnn_he_, spectral_radius
from .layers import (LAYER_SCHEMES, attention_parameters, feature_weights, graph_layers,
                     init_layer_, is_attention_layer, register_graph_layer, xavier_,
                     xavier_zero_attention_, zero_attention_)
from .schemes import InitScheme, get_scheme, register_scheme, scheme_names
from .tensor import POSITIONS, he_normal_, looks_linear_orthogonal_

__all__ = ["balanced_orthogonal_", "balanced_xavier_", "looks_linear_", "DEFAULT_LOGIT_SPREAD",
           "logit_spread",
           "scale_to_logit_spread_", "LAYER_SCHEMES", "aggregation_matrix",
           "attention_parameters", "feature_weights", "gnn_he_", "graph_layers", "init_layer_",
           "is_attention_layer", "register_graph_layer", "spectral_radius", "xavier_",
           "xavier_zero_attention_", "zero_attention_", "InitScheme", "get_scheme",
           "register_scheme", "scheme_names", "POSITIONS", "he_normal_",
           "looks_linear_orthogonal_"]
