"""THE check of a node-classification graph's data, before any training: used by the dataset
loaders (:func:`dglbal.data.load_dataset`) and by the training entry points
(:mod:`dglbal.experiments`), so a graph of the user's own gets the same checks.

A graph needs ``feat`` (2-D, numeric, finite), ``label`` (one integer class per node; floats
only when integer-valued) and boolean ``train_mask`` / ``val_mask`` / ``test_mask`` (0/1
values of any dtype are read as booleans), each selecting at least one node. A label of
``UNLABELLED`` (-1, the usual "no label" marker) is allowed: such nodes are taken out of the
masks with an :class:`UnlabelledNodesWarning` saying how many left which mask. Any other
negative label is refused. Masks that share nodes are kept, with an
:class:`OverlappingMasksWarning` naming them (a test score would include training nodes).

Examples
--------
>>> from dglbal.data import make_synthetic
>>> g = check_node_data(make_synthetic(num_nodes=200), "my graph")
>>> g.ndata["label"].dtype
torch.int64
"""
from __future__ import annotations

import warnings

import dgl
import torch

__all__ = ["MASKS", "UNLABELLED", "GraphDataError", "UnlabelledNodesWarning",
           "OverlappingMasksWarning", "check_node_data", "check_classes"]

MASKS = ("train_mask", "val_mask", "test_mask")
UNLABELLED = -1


class GraphDataError(ValueError):
    """A graph's node data cannot be trained on (missing, malformed, empty or unlabelled).

    A ``ValueError``; :func:`check_node_data` raises it naming the graph and the node data.

    Parameters
    ----------
    *args
        The message, as for ``ValueError``.

    Examples
    --------
    >>> import dgl, torch
    >>> g = dgl.graph(([0, 1], [1, 2]))
    >>> g.ndata["feat"] = torch.tensor([[float("nan")], [1.0], [2.0]])
    >>> g.ndata["label"] = torch.tensor([0, 1, 0])
    >>> for mask in ("train_mask", "val_mask", "test_mask"):
    ...     g.ndata[mask] = torch.ones(3, dtype=torch.bool)
    >>> try:
    ...     check_node_data(g)
    ... except GraphDataError as error:
    ...     print(error)
    the graph: node features hold NaN or inf in 1 rows (first: node 0); fix or drop them
    """


class UnlabelledNodesWarning(UserWarning):
    """Nodes labelled -1 (unlabelled) were taken out of a mask.

    A ``UserWarning`` :func:`check_node_data` gives with the count it took out of each mask.

    Parameters
    ----------
    *args
        The message, as for ``UserWarning``.

    Examples
    --------
    >>> import warnings
    >>> import dgl, torch
    >>> g = dgl.graph(([0, 1, 2], [1, 2, 3]))
    >>> g.ndata["feat"], g.ndata["label"] = torch.ones(4, 2), torch.tensor([0, 1, 0, -1])
    >>> g.ndata["train_mask"] = torch.tensor([True, False, False, True])
    >>> g.ndata["val_mask"] = torch.tensor([False, True, False, False])
    >>> g.ndata["test_mask"] = torch.tensor([False, False, True, False])
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     trained = check_node_data(g)
    >>> [w.category.__name__ for w in caught], trained.ndata["train_mask"].tolist()
    (['UnlabelledNodesWarning'], [True, False, False, False])
    """


class OverlappingMasksWarning(UserWarning):
    """Two of a graph's train, validation and test masks share nodes.

    A ``UserWarning`` :func:`check_node_data` gives naming the masks and the count: a test
    (or validation) score then includes nodes the model was trained on.

    Parameters
    ----------
    *args
        The message, as for ``UserWarning``.

    Examples
    --------
    >>> import warnings
    >>> import dgl, torch
    >>> g = dgl.graph(([0, 1], [1, 2]))
    >>> g.ndata["feat"], g.ndata["label"] = torch.ones(3, 2), torch.tensor([0, 1, 0])
    >>> g.ndata["train_mask"] = g.ndata["test_mask"] = torch.tensor([True, True, False])
    >>> g.ndata["val_mask"] = torch.tensor([False, False, True])
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = check_node_data(g)
    >>> caught[0].category.__name__
    'OverlappingMasksWarning'
    """


def _warn_overlaps(masks: dict, source: str) -> None:
    """Warn for each pair of masks that share nodes (scores on nodes trained on)."""
    for first, second in (("train_mask", "val_mask"), ("train_mask", "test_mask"),
                          ("val_mask", "test_mask")):
        both = torch.nonzero(masks[first] & masks[second]).squeeze(1)
        if len(both):
            warnings.warn(f"{source}: {first} and {second} share {len(both)} of the graph's "
                          f"nodes (first: node {int(both[0])}); scores on {second} include "
                          f"nodes of {first}", OverlappingMasksWarning, stacklevel=3)


def _labels(graph: dgl.DGLGraph, source: str, error: type) -> torch.Tensor:
    label = graph.ndata["label"]
    if label.shape != (graph.num_nodes(),):
        raise error(f"{source}: label has shape {tuple(label.shape)}, expected "
                    f"({graph.num_nodes()},): one class per node")
    if label.dtype == torch.bool or label.is_complex():
        raise error(f"{source}: label must hold integer classes, got dtype {label.dtype}")
    if label.is_floating_point():
        bad = ~torch.isfinite(label) | (label != label.round())
        if bool(bad.any()):
            first = int(torch.nonzero(bad)[0])
            raise error(f"{source}: label holds {int(bad.sum())} values that are not whole "
                        f"numbers (first: node {first}, {float(label[first])}); classes must "
                        "be integers")
    label = label.long()
    if bool((label < UNLABELLED).any()):
        first = int(torch.nonzero(label < UNLABELLED)[0])
        raise error(f"{source}: label holds negative classes (first: node {first}, "
                    f"{int(label[first])}); classes are 0..C-1, and -1 marks an unlabelled node")
    if not bool((label >= 0).any()):
        raise error(f"{source}: no node has a label (all are -1)")
    return label


def _mask(graph: dgl.DGLGraph, name: str, source: str, error: type) -> torch.Tensor:
    if name not in graph.ndata:
        raise error(f"{source}: no node data {name!r} (a node-classification graph needs "
                    f"feat, label, {', '.join(MASKS)})")
    mask = graph.ndata[name]
    if mask.shape != (graph.num_nodes(),):
        raise error(f"{source}: {name} has shape {tuple(mask.shape)}, expected "
                    f"({graph.num_nodes()},)")
    if mask.dtype != torch.bool:
        if mask.is_complex() or not bool(((mask == 0) | (mask == 1)).all()):
            raise error(f"{source}: {name} must be boolean (or 0/1), got dtype {mask.dtype} "
                        "with other values")
        mask = mask != 0
    return mask


def check_node_data(graph: dgl.DGLGraph, source: str = "the graph",
                    error: type = GraphDataError) -> dgl.DGLGraph:
    """Check ``graph``'s node data for training; returns the graph to train on.

    Parameters
    ----------
    graph : dgl.DGLGraph
        A graph with ``feat``, ``label`` and the three masks.
    source : str
        What the graph is, for the error (``"dataset 'texas': /data/texas.npz"``).
    error : type
        The ``ValueError`` subclass to raise (:class:`GraphDataError` by default).

    Returns
    -------
    dgl.DGLGraph
        ``graph`` itself when it needs no change (masks that share nodes are kept as they
        are, with an :class:`OverlappingMasksWarning`); otherwise a shallow copy (the caller's
        graph is not modified) with ``label`` as int64 and boolean masks without the nodes
        labelled -1.

    Raises
    ------
    GraphDataError
        (or ``error``) naming ``source`` and the offending node data: a graph with no
        nodes or several node types, features that are not 2-D numbers or not finite,
        labels that are not whole numbers or are negative other than -1, a mask that is
        missing, of the wrong shape or selects no labelled node.

    Examples
    --------
    >>> import dgl, torch
    >>> g = dgl.graph(([0, 1], [1, 2]))
    >>> g.ndata["feat"], g.ndata["label"] = torch.ones(3, 2), torch.tensor([0, 1, 0])
    >>> for node, mask in enumerate(("train_mask", "val_mask", "test_mask")):
    ...     g.ndata[mask] = torch.arange(3) == node
    >>> check_node_data(g) is g  # nothing to change
    True
    """
    if not isinstance(graph, dgl.DGLGraph):
        raise error(f"{source}: expected a dgl.DGLGraph, got {type(graph).__name__}")
    if len(graph.ntypes) > 1:  # its ndata would hold one tensor per node type
        raise error(f"{source}: a graph of one node type is needed, got {len(graph.ntypes)}: "
                    f"{', '.join(graph.ntypes)} (dgl.to_homogeneous or dgl.node_type_subgraph "
                    "makes one)")
    if graph.num_nodes() == 0:
        raise error(f"{source}: the graph has no nodes")
    missing = [k for k in ("feat", "label") if k not in graph.ndata]
    if missing:
        raise error(f"{source}: no node data {', '.join(map(repr, missing))} (a "
                    f"node-classification graph needs feat, label, {', '.join(MASKS)})")
    feat = graph.ndata["feat"]
    if feat.dim() != 2 or feat.shape[1] == 0:
        raise error(f"{source}: feat must be 2-D (nodes, features >= 1), got shape "
                    f"{tuple(feat.shape)}")
    if feat.is_complex() or feat.dtype == torch.bool:
        raise error(f"{source}: feat must hold real numbers, got dtype {feat.dtype}")
    if feat.is_floating_point() and not bool(torch.isfinite(feat).all()):
        rows = torch.nonzero(~torch.isfinite(feat).all(dim=1)).squeeze(1)
        raise error(f"{source}: node features hold NaN or inf in {len(rows)} rows "
                    f"(first: node {int(rows[0])}); fix or drop them")
    label = _labels(graph, source, error)
    labelled = label != UNLABELLED
    masks, dropped = {}, {}
    for name in MASKS:
        mask = _mask(graph, name, source, error)
        if not bool(mask.any()):
            raise error(f"{source}: {name} selects no node; training needs at least one "
                        "node in each of the train, validation and test masks")
        masks[name] = mask & labelled
        dropped[name] = int((mask & ~labelled).sum())
        if not bool(masks[name].any()):
            raise error(f"{source}: every node of {name} is unlabelled (label -1)")
    if any(dropped.values()):
        counts = ", ".join(f"{n} {dropped[n]} of {int((masks[n]).sum()) + dropped[n]}"
                           for n in MASKS if dropped[n])
        warnings.warn(f"{source}: nodes labelled -1 (unlabelled) are left out of the masks: "
                      f"{counts}", UnlabelledNodesWarning, stacklevel=2)
    _warn_overlaps(masks, source)
    changed = (graph.ndata["label"].dtype != torch.long
               or any(graph.ndata[n].dtype != torch.bool or dropped[n] for n in MASKS))
    if not changed:
        return graph
    graph = graph.local_var()
    graph.ndata["label"] = label
    graph.ndata.update(masks)
    return graph


def check_classes(num_outputs: int, num_labels: int, source: str = "the graph",
                  error: type = GraphDataError) -> None:
    """Refuse a model whose ``num_outputs`` logits cannot score ``num_labels`` classes
    (labels 0..num_labels-1), before cross entropy fails on an out-of-range label."""
    if num_outputs < num_labels:
        raise error(f"{source}: labels go up to {num_labels - 1} ({num_labels} classes) but "
                    f"the model has {num_outputs} outputs")
