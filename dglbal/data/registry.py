"""THE dataset registry: name -> loader, family and the protocol defaults that follow from it.

The family decides what the papers' protocols do with a set: citation graphs (Planetoid and
the synthetic graph) and heterophilous sets get different learning rates and stopping losses
(:mod:`dglbal.experiments.protocol`); only heterophilous sets have fixed splits and raw
features in the authors' code. A new dataset is one :func:`register_dataset` call.

Examples
--------
>>> from dglbal.data.registry import dataset_names, get_dataset
>>> get_dataset("texas").family
'heterophilous'
>>> "cora" in dataset_names()
True
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple

import dgl

from .heterophilous import NAMES as _HETEROPHILOUS_NAMES
from .heterophilous import load_heterophilous
from .planetoid import DGL_CLASSES as _PLANETOID_CLASSES
from .planetoid import load_planetoid
from .synthetic import make_synthetic

__all__ = ["FAMILIES", "DatasetSpec", "register_dataset", "get_dataset", "dataset_names"]

#: The kinds of dataset, each with its own loader.
FAMILIES = ("synthetic", "planetoid", "heterophilous")

# loader(root, split, seed, bidirected) -> graph (before self-loops and dglbal's normalization)
Loader = Callable[[Optional[Path], int, int, bool], dgl.DGLGraph]


@dataclass(frozen=True)
class DatasetSpec:
    """One node-classification dataset.

    Parameters
    ----------
    name : str
        Lower-case name (``--dataset``).
    family : str
        One of :data:`~dglbal.data.registry.FAMILIES`.
    loader : callable
        ``loader(root, split, seed, bidirected)``: the raw graph with ``feat``, ``label`` and
        the three masks; ``root`` is the data directory (``None``: the default).
    needs_files : bool
        Whether it reads files (all but the synthetic graph).
    raw_loader : callable, optional
        For a ``loader`` whose features come normalized already (DGL's planetoid classes
        row-normalize theirs): a loader of the same signature returning the raw features,
        which ``load_dataset(..., normalize=False)`` uses. None: ``loader`` serves both.

    Examples
    --------
    >>> from dglbal.data import make_synthetic
    >>> spec = DatasetSpec("tiny", "synthetic", lambda root, split, seed, bidirected:
    ...                    make_synthetic(num_nodes=200, seed=seed), needs_files=False)
    >>> spec.loader(None, 1, 0, True).num_nodes()
    200

    ``register_dataset(spec)`` would make it ``load_dataset("tiny")`` and ``--dataset tiny``.
    """

    name: str
    family: str
    loader: Loader
    needs_files: bool = True
    raw_loader: Optional[Loader] = None

    @property
    def citation(self) -> bool:
        """Citation-graph protocol defaults (Planetoid and the synthetic graph)."""
        return self.family in ("synthetic", "planetoid")

    @property
    def heterophilous(self) -> bool:
        return self.family == "heterophilous"


_DATASETS: Dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Add a dataset to the registry, so that :func:`dglbal.data.load_dataset`, the
    experiments and ``dglbal train --dataset`` know it.

    Parameters
    ----------
    spec : DatasetSpec
        A new lower-case name, a family of :data:`~dglbal.data.registry.FAMILIES`, a loader.

    Returns
    -------
    DatasetSpec
        ``spec``.

    Raises
    ------
    ValueError
        A name that is taken or not lower-case, an unknown family.

    Examples
    --------
    >>> from dglbal.data import DatasetSpec, make_synthetic
    >>> spec = register_dataset(DatasetSpec(
    ...     "tiny_sbm", "synthetic", needs_files=False,
    ...     loader=lambda root, split, seed, bidirected: make_synthetic(200, seed=seed)))
    >>> "tiny_sbm" in dataset_names("synthetic")
    True
    """
    if spec.name != spec.name.lower() or spec.name in _DATASETS:
        raise ValueError(f"dataset name {spec.name!r} must be new and lower-case")
    if spec.family not in FAMILIES:
        raise ValueError(f"dataset {spec.name!r}: family must be one of {FAMILIES}, "
                         f"got {spec.family!r}")
    _DATASETS[spec.name] = spec
    return spec


def get_dataset(name: str) -> DatasetSpec:
    """The registered dataset called ``name``.

    Parameters
    ----------
    name : str
        A name of :func:`dataset_names`, in any case.

    Returns
    -------
    DatasetSpec
        Its registry entry.

    Raises
    ------
    ValueError
        An unknown name; the message lists the known ones.

    Examples
    --------
    >>> get_dataset("Cora").family
    'planetoid'
    """
    if not isinstance(name, str) or name.lower() not in _DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(_DATASETS)}")
    return _DATASETS[name.lower()]


def dataset_names(family: Optional[str] = None) -> Tuple[str, ...]:
    """Registered dataset names, in registration order.

    Parameters
    ----------
    family : str, optional
        Only this family's (one of :data:`~dglbal.data.registry.FAMILIES`).

    Returns
    -------
    tuple of str
        The names.

    Examples
    --------
    >>> dataset_names("planetoid")
    ('cora', 'citeseer', 'pubmed')
    """
    return tuple(n for n, s in _DATASETS.items() if family is None or s.family == family)


register_dataset(DatasetSpec("synthetic", "synthetic", needs_files=False,
                             loader=lambda root, split, seed, bidirected:
                             make_synthetic(seed=seed)))
for _name in _PLANETOID_CLASSES:
    register_dataset(DatasetSpec(_name, "planetoid",
                                 loader=lambda root, split, seed, bidirected, _name=_name:
                                 load_planetoid(_name, root),
                                 raw_loader=lambda root, split, seed, bidirected, _name=_name:
                                 load_planetoid(_name, root, raw_features=True)))
for _name in _HETEROPHILOUS_NAMES:
    register_dataset(DatasetSpec(_name, "heterophilous",
                                 loader=lambda root, split, seed, bidirected, _name=_name:
                                 load_heterophilous(_name, root, split, bidirected=bidirected)))
