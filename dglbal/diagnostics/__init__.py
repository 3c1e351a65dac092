"""Diagnosis of a deep GNN at initialization: per layer, the scale of outputs and gradients and
the similarity of the nodes' features; per rescale group, its balance and relative gradients;
a verdict with what to try (:func:`diagnose`)."""
from .diagnosis import THRESHOLDS, Diagnosis, diagnose
from .groups import GroupStats, group_statistics
from .layers import LayerStats, layer_statistics, mean_pairwise_cosine, watched_layers

__all__ = ["diagnose", "Diagnosis", "THRESHOLDS", "LayerStats", "GroupStats",
           "layer_statistics", "group_statistics", "mean_pairwise_cosine", "watched_layers"]
