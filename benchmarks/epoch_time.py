"""Training-epoch time of dglbal's deep GAT against the same model in DGL and in PyG.

    python benchmarks/epoch_time.py [--dataset cora] [--layers 2 10 40] [--threads 1 2]
                                    [--epochs 20] [--models gat gatconv gcn] [--loop]

Every model gets the same weights and the same graph (Cora has self-loops added; PyG's
``add_self_loops`` is off so that all see the same edges). Epochs alternate between the
models, so machine noise hits them alike; the median is printed. An epoch is a full-batch
forward, backward and SGD step. Columns:

- ``dglbal``: :class:`dglbal.nn.GAT` fed sparse CSR features (what ``dglbal train`` does;
  the GCN, whose layers take dense input only, dense features),
- ``compiled``: the same with the attention kernels run through ``torch.compile``
  (``dglbal.nn.kernels.attention.set_backend("compiled")``; compiling happens in the warm-up
  epochs),
- ``dense``: the default model fed the dense feature matrix,
- ``dgl``: a stack of ``dgl.nn.GATv2Conv`` (``GATConv`` for ``--models gatconv``,
  ``GraphConv`` for GCN),
- ``pyg``: a stack of ``torch_geometric.nn.GATv2Conv``, ``GATConv`` or ``GCNConv`` (optional:
  ``pip install dglbal[bench]``; the column is left out when PyG does not import).

``loop ms`` (with ``--loop``) is one epoch of
``dglbal.experiments.train.train_node_classifier`` on the same model: the step plus scoring
validation and test (from the training forward's logits when the model has no dropout, see
:mod:`dglbal.experiments.loop`), the loss check and the history.

``saved MiB`` is the memory autograd keeps for the backward pass at the end of the forward
pass (the peak of a training step), counted once per storage with saved-tensor hooks.
Targets (issue 13): dglbal <= 0.7 x dgl and <= 0.8 x pyg at every depth and thread count.
"""
import argparse
import functools
import os
import statistics
import time

os.environ.setdefault("DGLBACKEND", "pytorch")

import dgl.nn.pytorch as dglnn  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from dglbal.data import load_dataset, num_classes  # noqa: E402
from dglbal.nn import GAT, GCN, GATConv, GATv2Conv, GraphConv  # noqa: E402
from dglbal.nn.kernels import attention  # noqa: E402
from dglbal.nn.kernels.sparse import input_features  # noqa: E402
from dglbal.experiments.train import train_node_classifier  # noqa: E402

try:
    import torch_geometric.nn as pygnn
    PYG_MISSING = ""
except ImportError as error:  # optional benchmark dependency (pip install dglbal[bench])
    pygnn = None
    PYG_MISSING = f"; no pyg column: {type(error).__name__}: {error}"


class Stack(nn.Module):
    """The builders' architecture written with another library's layers, as its user would."""

    def __init__(self, layers, heads: bool, graph_arg):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.heads = heads
        self.graph_arg = graph_arg

    def forward(self, graph, h):
        graph = self.graph_arg(graph)
        for layer in self.layers[:-1]:
            h = self._call(layer, graph, h)
            h = F.relu(h.flatten(1) if self.heads else h)
        h = self._call(self.layers[-1], graph, h)
        return h.mean(1) if self.heads and h.dim() == 3 else h

    @staticmethod
    def _call(layer, graph, h):
        return layer(graph, h) if isinstance(layer, DGL_LAYERS) else layer(h, graph)


DGL_LAYERS = (dglnn.GATv2Conv, dglnn.GATConv, dglnn.GraphConv)


def dgl_twin(model) -> Stack:
    """A dgl.nn stack with the same layers and weights as a dglbal builder."""
    twins = []
    for layer in model.layers:
        if isinstance(layer, GATv2Conv):
            twin = dglnn.GATv2Conv(layer._in_src_feats, layer._out_feats, layer._num_heads,
                                   bias=False, share_weights=True)
        elif isinstance(layer, GATConv):
            twin = dglnn.GATConv(layer._in_src_feats, layer._out_feats, layer._num_heads,
                                 bias=False)
        else:
            twin = dglnn.GraphConv(layer._in_feats, layer._out_feats, bias=False)
        twin.load_state_dict(layer.state_dict())
        twins.append(twin)
    return Stack(twins, heads=isinstance(model, GAT), graph_arg=lambda g: g)


def pyg_twin(model) -> Stack:
    """A torch_geometric stack of GATv2Conv (shared weights), GATConv or GCNConv, same weights.

    PyG's GCN normalizes both sides by in-degrees: the same function as DGL's ``norm="both"``
    on a symmetric graph (Cora), the same cost on any graph.
    """
    twins = []
    for index, layer in enumerate(model.layers):
        last = index == len(model.layers) - 1
        options = dict(heads=layer._num_heads, concat=not last, bias=False,
                       add_self_loops=False) if isinstance(model, GAT) else {}
        with torch.no_grad():
            if isinstance(layer, GraphConv):
                twin = pygnn.GCNConv(layer._in_feats, layer._out_feats, bias=False,
                                     add_self_loops=False)
                twin.lin.weight.copy_(layer.weight.T)
            elif isinstance(layer, GATv2Conv):
                twin = pygnn.GATv2Conv(layer._in_src_feats, layer._out_feats,
                                       share_weights=True, **options)
                twin.lin_l.weight.copy_(layer.fc_src.weight)
                twin.att.copy_(layer.attn)
            else:
                twin = pygnn.GATConv(layer._in_src_feats, layer._out_feats, **options)
                twin.lin.weight.copy_(layer.fc.weight)
                twin.att_src.copy_(layer.attn_l)
                twin.att_dst.copy_(layer.attn_r)
        twins.append(twin)
    return Stack(twins, heads=isinstance(model, GAT), graph_arg=edge_index)


def edge_index(graph) -> torch.Tensor:
    """PyG's (2, E) edge index of a DGLGraph; an edge index is passed through (made once)."""
    return graph if isinstance(graph, torch.Tensor) else torch.stack(graph.edges(order="eid"))


RATIOS = ("dglbal", "compiled")
BUILDERS = {"gat": GAT, "gatconv": functools.partial(GAT, conv="gat"), "gcn": GCN}
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def epoch(model, optimizer, graph, feat, labels, mask, clock=time.perf_counter) -> float:
    start = clock()
    optimizer.zero_grad()
    F.cross_entropy(model(graph, feat)[mask], labels[mask]).backward()
    optimizer.step()
    return clock() - start


def saved_mib(model, graph, feat) -> float:
    """MiB that autograd keeps for backward after one forward pass (each storage once)."""
    storages = {}

    def pack(tensor):
        if tensor.layout == torch.strided:
            storage = tensor.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(graph, feat)
    del out
    return sum(storages.values()) / 2 ** 20


def compare(builder, layers, graph, feat, labels, mask, epochs, clock):
    torch.manual_seed(0)
    ours = builder(feat.shape[1], 64, num_classes(graph), layers)
    ours_feat = input_features(ours, feat)  # sparse CSR for the GATs, as dglbal train feeds them
    models = {"dglbal": (ours, ours_feat), "compiled": (ours, ours_feat),
              "dense": (ours, feat), "dgl": (dgl_twin(ours), feat)}
    if pygnn is not None:
        models["pyg"] = (pyg_twin(ours), feat)
    with torch.no_grad():
        reference = ours(graph, feat)
        for name, (model, x) in models.items():
            attention.set_backend("compiled" if name == "compiled" else "eager")
            torch.testing.assert_close(model(graph, x), reference, rtol=1e-4, atol=1e-5,
                                       msg=lambda m: f"{name} differs from dglbal: {m}")
    optimizers = {name: torch.optim.SGD(model.parameters(), lr=0.01)
                  for name, (model, _) in models.items()}
    times = {name: [] for name in models}
    memory = {}
    for step in range(epochs + 3):
        for name, (model, x) in models.items():
            attention.set_backend("compiled" if name == "compiled" else "eager")
            if step == 3:  # after warm-up (and compilation)
                memory[name] = saved_mib(model, graph, x)
            elapsed = epoch(model, optimizers[name], graph, x, labels, mask, clock)
            if step >= 3:
                times[name].append(elapsed)
    attention.set_backend("eager")
    return {name: 1e3 * statistics.median(t) for name, t in times.items()}, memory


def loop_ms(builder, layers, graph, feat, epochs: int) -> float:
    """ms per epoch of dglbal's training loop (train_node_classifier) on the builder's model."""
    torch.manual_seed(0)
    model = builder(feat.shape[1], 64, num_classes(graph), layers)
    train_node_classifier(model, graph, epochs=3, loss_threshold=0.0, lr=0.01)  # warm-up
    out = train_node_classifier(model, graph, epochs=epochs, loss_threshold=0.0, lr=0.01)
    return 1e3 * out["seconds"] / out["epochs"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="cora")
    parser.add_argument("--layers", type=int, nargs="+", default=[2, 10, 40])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--models", nargs="+", choices=tuple(BUILDERS), default=["gat"],
                        help="gat: GATv2Conv stack (the paper's), gatconv: GATConv stack, gcn")
    parser.add_argument("--loop", action="store_true",
                        help="also time an epoch of dglbal's training loop (loop ms)")
    parser.add_argument("--clock", choices=tuple(CLOCKS), default="wall",
                        help="wall time, or CPU time of the process (all threads; less "
                             "sensitive to other load on a shared machine)")
    args = parser.parse_args()
    graph = load_dataset(args.dataset)
    feat, labels, mask = graph.ndata["feat"], graph.ndata["label"], graph.ndata["train_mask"]
    density = float(torch.count_nonzero(feat)) / feat.numel()
    print(f"{args.dataset}: {graph.num_nodes()} nodes, {graph.num_edges()} edges, features "
          f"{tuple(feat.shape)} {100 * density:.1f}% non-zero; median of {args.epochs} epochs "
          f"after 3 warm-up epochs, interleaved, {args.clock} clock; torch {torch.__version__}"
          + (PYG_MISSING if pygnn is None
             else ", PyG " + __import__("torch_geometric").__version__))
    names = ["dglbal", "compiled", "dense", "dgl"] + (["pyg"] if pygnn is not None else [])
    header = (f"{'model':<8}{'thr':>4}{'L':>4}" + "".join(f"{n + ' ms':>12}" for n in names)
              + "".join(f"{a[:4] + '/' + b:>10}" for a in RATIOS for b in ("dgl", "pyg"))
              + "  saved MiB " + "/".join(names) + "  load" + ("  loop ms" if args.loop else ""))
    print(header)
    for threads in args.threads:
        torch.set_num_threads(threads)
        for model_name in args.models:
            builder = BUILDERS[model_name]
            for layers in args.layers:
                ms, memory = compare(builder, layers, graph, feat, labels, mask,
                                     args.epochs, CLOCKS[args.clock])
                cells = "".join(f"{ms[n]:>12.1f}" if n in ms else f"{'-':>12}" for n in names)
                ratios = "".join(f"{ms[a] / ms[b]:>10.2f}" if b in ms else f"{'-':>10}"
                                 for a in RATIOS for b in ("dgl", "pyg"))
                mem = "/".join(f"{memory[n]:.1f}" if n in memory else "-" for n in names)
                loop = (f"  loop {loop_ms(builder, layers, graph, feat, args.epochs):.1f}"
                        if args.loop else "")
                print(f"{model_name:<8}{threads:>4}{layers:>4}{cells}{ratios}  {mem}  "
                      f"{os.getloadavg()[0]:.1f}{loop}", flush=True)


if __name__ == "__main__":
    main()
