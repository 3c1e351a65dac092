"""Where datasets live and the preprocessing every dataset gets."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import dgl
import torch

from .validation import GraphDataError, check_node_data

DATA_ENV = "DGLBAL_DATA"


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are not where dglbal looked, and it could not be downloaded.

    A ``FileNotFoundError``: the message says where dglbal looked and what to pass.

    Parameters
    ----------
    *args
        The message, as for ``FileNotFoundError``.

    Examples
    --------
    >>> import tempfile
    >>> from dglbal.data import load_dataset
    >>> try:
    ...     load_dataset("texas", root=tempfile.mkdtemp())
    ... except DatasetNotFoundError as error:
    ...     print(str(error).split(".")[0].split(":")[0])
    dataset 'texas'
    """


class DatasetFileError(GraphDataError):
    """A dataset file exists but cannot be used (corrupted, truncated or malformed).

    A :class:`GraphDataError` (so a ``ValueError``) naming the file, the array and the split.

    Parameters
    ----------
    *args
        The message, as for ``ValueError``.

    Examples
    --------
    >>> issubclass(DatasetFileError, GraphDataError), issubclass(DatasetFileError, ValueError)
    (True, True)
    """


def data_root(root: Optional[str] = None) -> Optional[Path]:
    """The data directory: ``root``, else ``$DGLBAL_DATA``, else None (DGL's default)."""
    chosen = root if root is not None else os.environ.get(DATA_ENV)
    return Path(chosen).expanduser() if chosen else None


def row_normalize(feat: torch.Tensor) -> torch.Tensor:
    """Scale each row to sum 1 (rows of zeros stay zero), like PyG's NormalizeFeatures;
    negative features are shifted to start at 0 first.

    Parameters
    ----------
    feat : torch.Tensor
        An (N, F) feature matrix.

    Returns
    -------
    torch.Tensor
        The float32 normalized features (a new tensor).

    Examples
    --------
    >>> row_normalize(torch.tensor([[1.0, 3.0], [0.0, 0.0]]))
    tensor([[0.2500, 0.7500],
            [0.0000, 0.0000]])
    """
    feat = feat.float()
    if feat.numel() and feat.min() < 0:
        feat = feat - feat.min()
    sums = feat.sum(dim=1, keepdim=True)
    return torch.where(sums > 0, feat / sums.clamp(min=torch.finfo(feat.dtype).tiny), feat)


def finalize(graph: dgl.DGLGraph, source: str = "the graph",
             normalize: bool = True) -> dgl.DGLGraph:
    """Check the node data (:func:`~dglbal.data.validation.check_node_data`, a
    :class:`DatasetFileError` naming ``source``), add self-loops exactly once and row-normalize
    the features; ``normalize=False`` only casts them to float."""
    graph = check_node_data(graph, source, DatasetFileError)
    graph = dgl.add_self_loop(dgl.remove_self_loop(graph))
    feat = graph.ndata["feat"]
    graph.ndata["feat"] = row_normalize(feat) if normalize else feat.float()
    return graph
