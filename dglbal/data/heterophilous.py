"""The heterophilous node-classification sets with 10 fixed splits, from npz files."""
from __future__ import annotations

import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Optional

import dgl
import numpy as np
import torch

from ._common import DatasetFileError, DatasetNotFoundError
from .validation import OverlappingMasksWarning, check_node_data

__all__ = ["NAMES", "load_heterophilous"]

NAMES = ("actor", "chameleon", "squirrel", "cornell", "texas", "wisconsin", "minesweeper",
         "tolokers")
_KEYS = ("node_features", "node_labels", "edges", "train_masks", "val_masks", "test_masks")
_PARTS = ("train", "val", "test")


def load_heterophilous(name: str, root: Optional[Path], split: int = 1,
                       bidirected: bool = True) -> dgl.DGLGraph:
    """Load ``<root>/<name>.npz`` (or ``<root>/heterophilous/<name>.npz``) with split ``split``.

    The npz holds node_features, node_labels, edges (one row per edge, each stored once; a
    (2, E) array is read as E edges too), and train/val/test masks of shape (10, N). Edges are
    made undirected, as in the loader of the release these files come from; ``bidirected=False``
    keeps them one-way, source to target as stored (what the code of "Are GATs Out of
    Balance?" does). A file that is
    not a readable npz, or whose arrays do not fit together, is a :class:`DatasetFileError`
    naming the file and the dataset.
    """
    looked = [] if root is None else [root / f"{name}.npz", root / "heterophilous" / f"{name}.npz"]
    path = next((p for p in looked if p.is_file()), None)
    if path is None:
        where = ", ".join(map(str, looked)) or "nowhere (no root given and DGLBAL_DATA unset)"
        raise DatasetNotFoundError(
            f"dataset {name!r}: looked for {where}. Pass the directory holding {name}.npz "
            f"(keys {', '.join(_KEYS)}) as root= or set DGLBAL_DATA to it.")
    try:
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files if k in _KEYS}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise DatasetFileError(f"dataset {name!r}: {path} is not a readable npz file "
                               f"({type(error).__name__}: {error})") from None
    missing = [k for k in _KEYS if k not in arrays]
    if missing:
        raise DatasetFileError(f"dataset {name!r}: {path} lacks the arrays {missing}")
    return _graph(name, path, arrays, split, bidirected)


def _graph(name: str, path: Path, arrays: dict, split: int, bidirected: bool = True
           ) -> dgl.DGLGraph:
    """The graph of one split, after checking every array against the number of nodes."""
    where = f"dataset {name!r}: {path}"
    for key in _KEYS:
        kind = arrays[key].dtype
        if not (np.issubdtype(kind, np.integer) or np.issubdtype(kind, np.floating)
                or kind == np.bool_):
            raise DatasetFileError(f"{where}: {key} must hold numbers, got dtype {kind}")
    feat = arrays["node_features"]
    if feat.ndim != 2 or feat.shape[0] == 0 or feat.shape[1] == 0:
        raise DatasetFileError(f"{where}: node_features must be 2-D (nodes, features), with at "
                               f"least one of each, got shape {feat.shape}")
    num_nodes = feat.shape[0]
    if not np.isfinite(feat).all():
        rows = np.flatnonzero(~np.isfinite(feat).all(axis=1))
        raise DatasetFileError(f"{where}: node_features hold NaN or inf in {len(rows)} rows "
                               f"(first: node {rows[0]})")
    beyond = np.abs(feat) > np.finfo(np.float32).max  # finite here, infinite once float32
    if beyond.any():
        raise DatasetFileError(f"{where}: node_features hold values beyond float32 (largest "
                               f"magnitude {np.abs(feat).max():g}) in "
                               f"{int(beyond.any(axis=1).sum())} rows")
    if arrays["node_labels"].shape != (num_nodes,):
        raise DatasetFileError(f"{where}: node_labels has shape {arrays['node_labels'].shape}, "
                               f"expected ({num_nodes},), one label per node")
    _check_classes(arrays["node_labels"], where)
    for part in _PARTS:
        masks = arrays[f"{part}_masks"]
        if masks.ndim != 2 or masks.shape[1] != num_nodes:
            raise DatasetFileError(f"{where}: {part}_masks has shape {masks.shape}, expected "
                                   f"(splits, {num_nodes})")
    splits = {part: arrays[f"{part}_masks"].shape[0] for part in _PARTS}
    if len(set(splits.values())) > 1:
        raise DatasetFileError(f"{where}: the mask arrays hold different numbers of splits: "
                               + ", ".join(f"{part} {n}" for part, n in splits.items()))
    num_splits = splits["train"]
    if num_splits == 0:
        raise DatasetFileError(f"{where}: the mask arrays hold no split")
    if not 0 <= split < num_splits:
        raise ValueError(f"dataset {name!r} has splits 0..{num_splits - 1}, got split={split}")
    edges = _edge_rows(arrays["edges"], num_nodes, where)
    graph = dgl.graph((edges[:, 0], edges[:, 1]), num_nodes=num_nodes)
    if bidirected:
        graph = dgl.to_bidirected(graph)
    graph.ndata["feat"] = torch.from_numpy(feat.astype(np.float32))
    graph.ndata["label"] = _tensor(arrays["node_labels"])
    for part in _PARTS:
        graph.ndata[f"{part}_mask"] = _tensor(arrays[f"{part}_masks"][split])
    with warnings.catch_warnings():  # an overlap is refused just below, as an error
        warnings.simplefilter("ignore", OverlappingMasksWarning)
        graph = check_node_data(graph, f"{where} (split {split})", DatasetFileError)
    _check_disjoint(graph, f"{where} (split {split})")
    return graph


def _check_disjoint(graph: dgl.DGLGraph, where: str) -> None:
    """A node in two of a split's train, val and test masks would be trained and scored on."""
    for first, second in (("train", "val"), ("train", "test"), ("val", "test")):
        both = torch.nonzero(graph.ndata[f"{first}_mask"] & graph.ndata[f"{second}_mask"])
        if len(both):
            raise DatasetFileError(f"{where}: {first}_masks and {second}_masks share "
                                   f"{len(both)} node{'s' * (len(both) > 1)} (first: node "
                                   f"{int(both[0])}); a node belongs to one of train, val, test")


def _check_classes(labels: np.ndarray, where: str) -> None:
    """Labels within int64, and classes 0..C-1 that all occur (-1, unlabelled, aside): a class
    no node has is a corrupted label, and would give the model an output per missing class."""
    if labels.dtype.kind == "u" and labels.size and labels.max() > np.iinfo(np.int64).max:
        raise DatasetFileError(f"{where}: node_labels hold {labels.max()}, beyond int64")
    whole = labels.dtype.kind in "iu" or (labels.dtype.kind == "f" and bool(
        (np.isfinite(labels) & (labels == np.round(labels))).all()))
    if not whole:
        return  # check_node_data refuses booleans and values that are not whole numbers
    used = np.unique(labels[labels >= 0]).astype(np.int64)
    if used.size and used.size != used[-1] + 1:
        missing = next(c for c, u in enumerate(used) if c != u)
        raise DatasetFileError(f"{where}: node_labels use classes 0..{used[-1]} but only "
                               f"{used.size} of them occur (first missing: {missing})")


def _tensor(array: np.ndarray) -> torch.Tensor:
    """Booleans as they are, integers as int64, floats as float64 (torch lacks uint16..64)."""
    if array.dtype == np.bool_:
        return torch.from_numpy(array.copy())
    kind = np.int64 if np.issubdtype(array.dtype, np.integer) else np.float64
    return torch.from_numpy(array.astype(kind))


def _edge_rows(edges: np.ndarray, num_nodes: int, where: str) -> torch.Tensor:
    """Edges as (E, 2) rows; a (2, E) array (PyG's edge_index layout) is transposed."""
    if edges.ndim != 2 or 2 not in edges.shape:
        raise DatasetFileError(f"{where}: edges has shape {edges.shape}, expected (E, 2) or "
                               "(2, E)")
    if edges.shape[1] != 2:
        edges = edges.T
    if not np.issubdtype(edges.dtype, np.integer):
        raise DatasetFileError(f"{where}: edges must hold integer node ids, got {edges.dtype}")
    if edges.size and (edges.min() < 0 or edges.max() >= num_nodes):
        raise DatasetFileError(f"{where}: edges refer to node ids {edges.min()}..{edges.max()}, "
                               f"the file has {num_nodes} nodes")
    return torch.from_numpy(np.ascontiguousarray(edges)).long()
