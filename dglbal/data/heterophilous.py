"""The heterophilous node-classification sets with 10 fixed splits, from npz files."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import dgl
import numpy as np
import torch

from ._common import DatasetNotFoundError

NAMES = ("actor", "chameleon", "squirrel", "cornell", "texas", "wisconsin")
_KEYS = ("node_features", "node_labels", "edges", "train_masks", "val_masks", "test_masks")


def load_heterophilous(name: str, root: Optional[Path], split: int = 1) -> dgl.DGLGraph:
    """Load ``<root>/<name>.npz`` (or ``<root>/heterophilous/<name>.npz``) with split ``split``.

    The npz holds node_features, node_labels, edges (one row per edge, each stored once),
    and train/val/test masks of shape (10, N). Edges are made undirected, as in the loader
    of the release these files come from.
    """
    looked = [] if root is None else [root / f"{name}.npz", root / "heterophilous" / f"{name}.npz"]
    path = next((p for p in looked if p.is_file()), None)
    if path is None:
        where = ", ".join(map(str, looked)) or "nowhere (no root given and DGLBAL_DATA unset)"
        raise DatasetNotFoundError(
            f"dataset {name!r}: looked for {where}. Pass the directory holding {name}.npz "
            f"(keys {', '.join(_KEYS)}) as root= or set DGLBAL_DATA to it.")
    with np.load(path) as data:
        missing = [k for k in _KEYS if k not in data.files]
        if missing:
            raise ValueError(f"{path} lacks the arrays {missing}")
        num_splits = data["train_masks"].shape[0]
        if not 0 <= split < num_splits:
            raise ValueError(f"dataset {name!r} has splits 0..{num_splits - 1}, got split={split}")
        edges = torch.from_numpy(data["edges"]).long()
        num_nodes = data["node_features"].shape[0]
        graph = dgl.to_bidirected(dgl.graph((edges[:, 0], edges[:, 1]), num_nodes=num_nodes))
        graph.ndata["feat"] = torch.from_numpy(data["node_features"]).float()
        graph.ndata["label"] = torch.from_numpy(data["node_labels"]).long()
        for part in ("train", "val", "test"):
            graph.ndata[f"{part}_mask"] = torch.from_numpy(data[f"{part}_masks"][split]).bool()
    return graph
