"""Cora, Citeseer and Pubmed through DGL's own dataset classes, online or from local files."""
from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import List, Optional

import dgl
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
            (staged / f"ind.{dgl_name}.{part}").symlink_to((folder / f"ind.{name}.{part}").resolve())
        return _LocalFiles(raw_dir=tmp, verbose=False)[0]


def _unreadable(name: str, folder: Path) -> str:
    """The first ind.<name>.* file that does not parse (all of them if each one does)."""
    for part in _PARTS:
        path = folder / f"ind.{name}.{part}"
        try:
            if part == "test.index":
                [int(line) for line in path.read_text().split()]
            else:
                with open(path, "rb") as handle:
                    pickle.load(handle, encoding="latin1")
        except Exception:
            return str(path)
    return f"the files {folder}/ind.{name}.*"


def load_planetoid(name: str, root: Optional[Path]) -> dgl.DGLGraph:
    """Load a Planetoid citation graph with its public split.

    Looks for ``ind.<name>.*`` files under ``root`` (or ``root/planetoid``); failing that,
    DGL downloads the dataset into ``root`` (DGL's default directory when ``root`` is None).
    """
    if root is not None:
        folder = _local_dir(name, root)
        if folder is not None:
            try:
                return _from_local_files(name, folder)
            except Exception as error:  # DGL's loader: UnpicklingError, EOFError, ValueError...
                raise DatasetFileError(
                    f"dataset {name!r}: {_unreadable(name, folder)} could not be read by DGL's "
                    f"planetoid loader ({type(error).__name__}: {error})") from error
    try:
        return DGL_CLASSES[name](raw_dir=None if root is None else str(root), verbose=False)[0]
    except Exception as error:  # DGL raises assorted errors when offline
        looked = _candidates(name, root) if root is not None else ["DGL's download directory"]
        raise DatasetNotFoundError(
            f"dataset {name!r}: no local planetoid files in {', '.join(looked)}, and DGL's "
            f"download failed ({type(error).__name__}: {error}). Put the files ind.{name}.x, "
            f".y, .tx, .ty, .allx, .ally, .graph, .test.index in a directory and pass it as "
            "root= or set DGLBAL_DATA to it.") from error
