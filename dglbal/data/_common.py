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

    Computed in float32; rows whose float32 sum overflows (entries near or beyond float32's
    largest value) are computed again in float64, so they too sum to 1.

    Parameters
    ----------
    feat : torch.Tensor
        An (N, F) feature matrix.

    Returns
    -------
    torch.Tensor
        The float32 normalized features (a new tensor).

    Raises
    ------
    ValueError
        If ``feat`` holds NaN or infinite entries, naming the rows.

    Examples
    --------
    >>> row_normalize(torch.tensor([[1.0, 3.0], [0.0, 0.0]]))
    tensor([[0.2500, 0.7500],
            [0.0000, 0.0000]])
    """
    if feat.is_floating_point() and not bool(torch.isfinite(feat).all()):
        rows = torch.nonzero(~torch.isfinite(feat).all(dim=1)).squeeze(1)
        raise ValueError(f"row_normalize: the features hold NaN or inf in {len(rows)} rows "
                         f"(first: row {int(rows[0])})")
    out = _row_normalized(feat.float())
    wide = ~torch.isfinite(out).all(dim=1)  # a sum past float32: inf, the row 0 or NaN
    if bool(wide.any()):
        out[wide] = _row_normalized(feat.double())[wide].float()
    return out


def _row_normalized(feat: torch.Tensor) -> torch.Tensor:
    """:func:`row_normalize` in ``feat``'s own floating dtype (inf where a sum overflows)."""
    if feat.numel() and feat.min() < 0:
        feat = feat - feat.min()
    sums = feat.sum(dim=1, keepdim=True)
    out = torch.where(sums > 0, feat / sums.clamp(min=torch.finfo(feat.dtype).tiny), feat)
    return torch.where(torch.isinf(sums), torch.full_like(out, float("inf")), out)


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
