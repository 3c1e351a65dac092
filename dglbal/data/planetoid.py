"""Cora, Citeseer and Pubmed through DGL's own dataset classes, online or from local files.

DGL's classes row-normalize the features; the raw ones are read back from the same files.
"""
from __future__ import annotations

import os
import pickle
import tempfile
import warnings
from pathlib import Path
from typing import List, Optional, Tuple

import dgl
import numpy as np
import torch
from dgl.data import CiteseerGraphDataset, CoraGraphDataset, PubmedGraphDataset

from ._common import DatasetFileError, DatasetNotFoundError

__all__ = ["DGL_CLASSES", "load_planetoid"]

DGL_CLASSES = {"cora": CoraGraphDataset, "citeseer": CiteseerGraphDataset,
               "pubmed": PubmedGraphDataset}
_PARTS = ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")


def _local_dir(name: str, root: Path) -> Optional[Path]:
    """The first of root, root/planetoid, root/<name> holding the ind.<name>.* files."""
    for folder in (root, root / "planetoid", root / name):
        if all((folder / f"ind.{name}.{part}").is_file() for part in _PARTS):
            return folder
    return None


def _candidates(name: str, root: Path) -> List[str]:
    return [str(d / f"ind.{name}.*") for d in (root, root / "planetoid", root / name)]


def _from_local_files(name: str, folder: Path) -> dgl.DGLGraph:
    """Run DGL's own loader on planetoid files under ``folder``, with no download.

    DGL reads ``<raw_dir>/<dataset name>/ind.<dataset name>.*`` (Cora's dataset name is
    ``cora_v2``) and caches the processed graph beside it, so the files are linked into a
    temporary raw directory; the user's folder may be read-only.
    """
    cls = DGL_CLASSES[name]

    class _LocalFiles(cls):
        @property
        def raw_path(self):
            return os.path.join(self.raw_dir, self.name)

    with tempfile.TemporaryDirectory(prefix="dglbal-") as tmp:
        dgl_name = "cora_v2" if name == "cora" else name
        staged = Path(tmp) / dgl_name
        staged.mkdir()
        for part in _PARTS:
            (staged / f"ind.{dgl_name}.{part}").symlink_to(
                (folder / f"ind.{name}.{part}").resolve())
        return _LocalFiles(raw_dir=tmp, verbose=False)[0]


def _unreadable(name: str, folder: Path) -> str:
    """The first ind.<name>.* file that does not parse (all of them if each one does)."""
    for part in _PARTS:
        path = folder / f"ind.{name}.{part}"
        try:
            if part == "test.index":
                [int(line) for line in path.read_text().split()]
            else:
                _read_pickle(path)
        except Exception:
            return str(path)
    return f"the files {folder}/ind.{name}.*"


def _raw_features(name: str, files: Path, normalized: torch.Tensor) -> torch.Tensor:
    """The features of ``<files>.allx`` and ``<files>.tx`` before DGL row-normalizes them.

    Laid out as DGL's ``CitationGraphDataset`` lays them out: the rows of ``allx`` first, the
    row ``i`` of ``tx`` at node ``test.index[i]``, zero rows for Citeseer's test nodes that
    ``tx`` leaves out. ``normalized`` (DGL's features) must have nonzero entries exactly
    where these do: a :class:`DatasetFileError` otherwise, rather than features out of line
    with the labels.
    """
    try:
        allx, tx = (_read_pickle(Path(f"{files}.{part}")) for part in ("allx", "tx"))
        test_index = [int(line) for line in Path(f"{files}.test.index").read_text().split()]
        raw = np.zeros(tuple(normalized.shape), dtype=allx.dtype)
        raw[:allx.shape[0]] = allx.toarray()
        raw[test_index] = tx.toarray()
    except Exception as error:  # missing or unreadable files, rows that do not fit
        raise DatasetFileError(
            f"dataset {name!r}: the raw features of {files}.allx, .tx, .test.index could not "
            f"be read ({type(error).__name__}: {error})") from error
    raw = torch.from_numpy(raw)
    if not torch.equal(raw != 0, normalized != 0):
        raise DatasetFileError(
            f"dataset {name!r}: the raw features of {files}.allx and .tx do not line up with "
            "the row-normalized features of DGL's loader")
    return raw


def _read_pickle(path: Path) -> object:
    """One ind.<name>.* pickle (written by Python 2; its scipy matrices name the module
    ``scipy.sparse.csr``, which newer scipy warns about, as DGL's own reader does not)."""
    with open(path, "rb") as handle, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return pickle.load(handle, encoding="latin1")


def _dgl_graph(name: str, root: Optional[Path]) -> Tuple[dgl.DGLGraph, Path]:
    """DGL's graph of ``name`` (row-normalized features) and the prefix of the files it read:
    local files under ``root`` if there are any, else DGL's download."""
    if root is not None:
        folder = _local_dir(name, root)
        if folder is not None:
            try:
                return _from_local_files(name, folder), folder / f"ind.{name}"
            except Exception as error:  # DGL's loader: UnpicklingError, EOFError, ValueError...
                raise DatasetFileError(
                    f"dataset {name!r}: {_unreadable(name, folder)} could not be read by DGL's "
                    f"planetoid loader ({type(error).__name__}: {error})") from error
    try:
        dataset = DGL_CLASSES[name](raw_dir=None if root is None else str(root), verbose=False)
    except Exception as error:  # DGL raises assorted errors when offline
        looked = _candidates(name, root) if root is not None else ["DGL's download directory"]
        raise DatasetNotFoundError(
            f"dataset {name!r}: no local planetoid files in {', '.join(looked)}, and DGL's "
            f"download failed ({type(error).__name__}: {error}). Put the files ind.{name}.x, "
            f".y, .tx, .ty, .allx, .ally, .graph, .test.index in a directory and pass it as "
            "root= or set DGLBAL_DATA to it.") from error
    return dataset[0], Path(dataset.raw_path) / f"ind.{dataset.name}"


def load_planetoid(name: str, root: Optional[Path], raw_features: bool = False
                   ) -> dgl.DGLGraph:
    """Load a Planetoid citation graph with its public split.

    Looks for ``ind.<name>.*`` files under ``root`` (or ``root/planetoid``); failing that,
    DGL downloads the dataset into ``root`` (DGL's default directory when ``root`` is None).

    Parameters
    ----------
    name : str
        ``"cora"``, ``"citeseer"`` or ``"pubmed"``.
    root : pathlib.Path or None
        The data directory.
    raw_features : bool
        Replace DGL's row-normalized features by the files' own (``_raw_features``).

    Returns
    -------
    dgl.DGLGraph
        DGL's graph, with ``feat``, ``label`` and the three masks.
    """
    graph, files = _dgl_graph(name, root)
    if raw_features:
        graph.ndata["feat"] = _raw_features(name, files, graph.ndata["feat"])
    return graph
