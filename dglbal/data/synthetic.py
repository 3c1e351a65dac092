"""The embedded default: a contextual stochastic block model generated in-process."""
from __future__ import annotations

import numbers

import dgl
import numpy as np
import torch

__all__ = ["make_synthetic"]


def _split_masks(labels: np.ndarray, rng: np.random.Generator, per_class: int, num_val: int,
                 num_test: int) -> dict:
    """Planetoid-style split: ``per_class`` training nodes per class, then val and test."""
    order = rng.permutation(len(labels))
    train = np.concatenate([order[labels[order] == c][:per_class] for c in np.unique(labels)])
    rest = np.setdiff1d(order, train, assume_unique=True)
    rest = rest[rng.permutation(len(rest))]
    num_val = min(num_val, len(rest) // 3)  # small graphs: a third of the rest validates,
    num_test = min(num_test, len(rest) - num_val)  # the other two thirds test
    masks = {}
    for part, index in (("train", train), ("val", rest[:num_val]),
                        ("test", rest[num_val:num_val + num_test])):
        mask = np.zeros(len(labels), dtype=bool)
        mask[index] = True
        masks[f"{part}_mask"] = torch.from_numpy(mask)
    return masks


def _integer(value: object) -> bool:
    """An integer (Python's or numpy's), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _real(value: object) -> bool:
    """A real number (Python's or numpy's), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def make_synthetic(
    num_nodes: int = 3000,
    num_classes: int = 5,
    num_features: int = 500,
    avg_degree: float = 8.0,
    homophily: float = 0.75,
    words_per_node: int = 20,
    signal: float = 0.3,
    seed: int = 0,
) -> dgl.DGLGraph:
    """A contextual SBM with bag-of-words features, shaped like a citation graph.

    Each node gets a class; an edge joins two nodes of the same class with probability
    ``homophily``, else of two different classes. Each node draws ``words_per_node`` words,
    a share ``signal`` of them from its class's 20 topic words, the rest uniformly from the
    vocabulary; its features mark the words it drew. The split is Planetoid's: 20 training
    nodes per class, 500 validation, 1000 test (graphs too small for those: a third of the
    other nodes validate and the rest test). The same seed gives the same graph.

    Parameters
    ----------
    num_nodes : int, default 3000
        Nodes of the graph.
    num_classes : int, default 5
        Classes (at least 2).
    num_features : int, default 500
        The vocabulary: width of the bag-of-words features (at least 20).
    avg_degree : float, default 8.0
        The mean number of edges per node.
    homophily : float, default 0.75
        The share of edges that join two nodes of one class.
    words_per_node : int, default 20
        Words each node draws.
    signal : float, default 0.3
        The share of a node's words drawn from its class's topic words.
    seed : int, default 0
        The seed of every draw.

    Returns
    -------
    dgl.DGLGraph
        The graph with ``ndata`` ``feat``, ``label``, ``train_mask``, ``val_mask`` and
        ``test_mask`` (self-loops are added by :func:`load_dataset`).

    Raises
    ------
    ValueError
        For a setting it cannot generate (fewer than 20 features, one class, too few nodes
        for the classes, a rate outside [0, 1], a negative seed, ...) or of the wrong kind (a
        float or string where an integer is needed), naming it. numpy's integers and floats
        are taken as Python's.

    Examples
    --------
    >>> g = make_synthetic(num_nodes=200, seed=1)
    >>> g.ndata["feat"].shape
    torch.Size([200, 500])
    """
    for name, value, low, wanted in (
            ("num_nodes", num_nodes, 1, "an integer"),
            ("num_classes", num_classes, 2, "an integer >= 2"),
            ("num_features", num_features, 20,
             "an integer >= 20 (each class has 20 topic words)"),
            ("words_per_node", words_per_node, 1, "an integer >= 1"),
            ("seed", seed, 0, "an integer >= 0")):
        if not _integer(value) or value < low:
            raise ValueError(f"make_synthetic: {name} must be {wanted}, got {value!r}")
    for name, value, high, wanted in (("avg_degree", avg_degree, np.inf, "a finite number >= 0"),
                                      ("homophily", homophily, 1, "in [0, 1]"),
                                      ("signal", signal, 1, "in [0, 1]")):
        if not _real(value) or not 0 <= value <= high or not np.isfinite(value):
            raise ValueError(f"make_synthetic: {name} must be {wanted}, got {value!r}")
    num_nodes, num_classes, num_features = int(num_nodes), int(num_classes), int(num_features)
    words_per_node = int(words_per_node)
    # 20 training nodes per class, >= 1 val, >= 2 test
    if num_nodes < 20 * num_classes + 3:
        raise ValueError(f"num_nodes={num_nodes} is too small for {num_classes} classes")
    rng = np.random.default_rng(int(seed))
    labels = rng.permutation(np.arange(num_nodes) % num_classes)
    members = [np.flatnonzero(labels == c) for c in range(num_classes)]

    num_edges = int(num_nodes * avg_degree / 2)
    src = rng.integers(num_nodes, size=num_edges)
    same = rng.random(num_edges) < homophily
    shift = np.where(same, 0, rng.integers(1, max(num_classes, 2), size=num_edges))
    target_class = (labels[src] + shift) % num_classes
    dst = np.array([members[c][rng.integers(len(members[c]))] for c in target_class])
    keep = src != dst
    graph = dgl.to_bidirected(dgl.graph((torch.from_numpy(src[keep]), torch.from_numpy(dst[keep])),
                                        num_nodes=num_nodes))

    topics = np.stack([rng.choice(num_features, size=20, replace=False)
                       for _ in range(num_classes)])
    from_topic = rng.random((num_nodes, words_per_node)) < signal
    topic_words = topics[labels[:, None], rng.integers(20, size=(num_nodes, words_per_node))]
    noise_words = rng.integers(num_features, size=(num_nodes, words_per_node))
    words = np.where(from_topic, topic_words, noise_words)
    feat = np.zeros((num_nodes, num_features), dtype=np.float32)
    feat[np.arange(num_nodes)[:, None], words] = 1.0

    graph.ndata["feat"] = torch.from_numpy(feat)
    graph.ndata["label"] = torch.from_numpy(labels).long()
    graph.ndata.update(_split_masks(labels, rng, 20, 500, 1000))
    return graph
