"""Where datasets live and the preprocessing every dataset gets."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import dgl
import torch

DATA_ENV = "DGLBAL_DATA"


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are not where dglbal looked, and it could not be downloaded."""


class DatasetFileError(ValueError):
    """A dataset file exists but cannot be used (corrupted, truncated or malformed)."""


def data_root(root: Optional[str] = None) -> Optional[Path]:
    """The data directory: ``root``, else ``$DGLBAL_DATA``, else None (DGL's default)."""
    chosen = root if root is not None else os.environ.get(DATA_ENV)
    return Path(chosen).expanduser() if chosen else None


def row_normalize(feat: torch.Tensor) -> torch.Tensor:
    """Scale each row to sum 1 (rows of zeros stay zero), like PyG's NormalizeFeatures."""
    feat = feat.float()
    if feat.numel() and feat.min() < 0:
        feat = feat - feat.min()
    sums = feat.sum(dim=1, keepdim=True)
    return torch.where(sums > 0, feat / sums.clamp(min=torch.finfo(feat.dtype).tiny), feat)


def finalize(graph: dgl.DGLGraph, source: str = "the graph",
             normalize: bool = True) -> dgl.DGLGraph:
    """Add self-loops exactly once and row-normalize the features (finite ones only:
    ``source`` names where they came from in the error); ``normalize=False`` only casts
    them to float."""
    feat = graph.ndata["feat"]
    if feat.is_floating_point() and not bool(torch.isfinite(feat).all()):
        rows = torch.nonzero(~torch.isfinite(feat).all(dim=1)).squeeze(1)
        raise DatasetFileError(f"{source}: node features hold NaN or inf in {len(rows)} rows "
                               f"(first: node {int(rows[0])}); fix or drop them")
    graph = dgl.add_self_loop(dgl.remove_self_loop(graph))
    feat = graph.ndata["feat"]
    graph.ndata["feat"] = row_normalize(feat) if normalize else feat.float()
    graph.ndata["label"] = graph.ndata["label"].long()
    return graph
