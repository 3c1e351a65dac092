"""Datasets as DGL graphs with ``feat``, ``label``, ``train_mask``, ``val_mask``, ``test_mask``.

Every graph gets self-loops exactly once and (by default) row-normalized features.
"""
from __future__ import annotations

import numbers
import os
from typing import Optional

import dgl

from ._common import (DATA_ENV, DatasetFileError, DatasetNotFoundError, data_root, finalize,
    row_normalize)
from .registry import DatasetSpec, dataset_names, get_dataset, register_dataset
from .synthetic import make_synthetic
from .validation import (GraphDataError, OverlappingMasksWarning, UnlabelledNodesWarning,
    check_node_data)

__all__ = ["DATA_ENV", "DatasetFileError", "DatasetNotFoundError", "DatasetSpec",
           "GraphDataError", "OverlappingMasksWarning", "UnlabelledNodesWarning",
           "check_node_data", "dataset_names", "get_dataset", "load_dataset", "make_synthetic",
           "num_classes", "register_dataset", "row_normalize"]


def load_dataset(name: str, root: Optional[str] = None, *, split: int = 1,
                 seed: int = 0, normalize: bool = True, bidirected: bool = True) -> dgl.DGLGraph:
    """Load a node-classification dataset by name.

    Parameters
    ----------
    name : str
        ``synthetic`` (generated in-process, no files needed), ``cora``, ``citeseer``,
        ``pubmed`` (DGL's classes: local planetoid files or DGL's download), or one of
        ``actor``, ``chameleon``, ``squirrel``, ``cornell``, ``texas``, ``wisconsin``
        (npz files with 10 fixed splits).
    root : str, optional
        Data directory; defaults to ``$DGLBAL_DATA``, then DGL's download directory.
    split : int
        Which of the 10 fixed splits of a heterophilous set (the paper uses 1). The other
        sets have one split each (Planetoid's public split, the synthetic graph's own) and
        refuse any other value than the default.
    seed : int
        Seed of the synthetic graph.
    normalize : bool
        Row-normalize the features (``False`` keeps the raw features). ``cora``,
        ``citeseer``, ``pubmed``: DGL's classes row-normalize theirs and the default
        row-normalizes them once more (a change by rounding only); ``False`` reads the
        files' own back (0/1 word vectors, Pubmed's TF-IDF).
    bidirected : bool
        Heterophilous sets: add the reverse of every stored edge (``False`` uses the edges
        one-way, as stored, like the authors' code).

    Returns
    -------
    dgl.DGLGraph
        The graph with one self-loop per node and ``ndata`` ``feat`` (row-normalized unless
        ``normalize=False``), ``label`` and boolean ``train_mask``, ``val_mask``,
        ``test_mask``, checked by :func:`check_node_data`.

    Raises
    ------
    ValueError
        For an unknown name or a bad ``split``, ``seed`` or ``root`` (a ``split`` other than
        1 for a set without fixed splits; an empty ``root``).
    DatasetNotFoundError
        If the dataset's files are not in the data directory (saying where it looked) and
        cannot be downloaded.
    DatasetFileError
        If a file is there but unusable, naming the file, the array and the split.

    Examples
    --------
    >>> g = load_dataset("synthetic")
    >>> int(g.ndata["train_mask"].sum())
    100
    """
    spec = get_dataset(name)
    if isinstance(split, bool) or not isinstance(split, numbers.Integral):
        raise ValueError(f"split must be an integer (which of the fixed splits), got {split!r}")
    if split != 1 and not spec.heterophilous:
        raise ValueError(
            f"dataset {spec.name!r} has a single split: leave split at its default 1, got "
            f"split={split} (only the heterophilous sets have fixed splits to choose from: "
            f"{', '.join(dataset_names('heterophilous'))})")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if root is not None and not isinstance(root, (str, os.PathLike)):
        raise ValueError(f"root must be a directory path (str or os.PathLike), got {root!r}")
    if root is not None and not os.fspath(root):
        raise ValueError(f"root must be a directory path (str or os.PathLike), got {root!r} "
                         f"(leave it None for ${DATA_ENV}, then DGL's download directory)")
    loader = spec.raw_loader if not normalize and spec.raw_loader else spec.loader
    graph = loader(data_root(root) if spec.needs_files else None, int(split), seed, bidirected)
    return finalize(graph, f"dataset {spec.name!r}", normalize=normalize)


def num_classes(graph: dgl.DGLGraph) -> int:
    """Number of classes of a loaded dataset (the largest label plus one).

    Parameters
    ----------
    graph : dgl.DGLGraph
        A graph with a ``label`` node tensor.

    Returns
    -------
    int
        The number of classes.

    Examples
    --------
    >>> num_classes(make_synthetic(num_nodes=200, num_classes=4))
    4
    """
    return int(graph.ndata["label"].max()) + 1
