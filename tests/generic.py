"""Parameters at a generic point, where no symmetry exists beyond the structural ones.

At special points a model has extra, accidental invariances that a black-box check would
count: a ReLU channel that is dead on every input (its outgoing weights do not matter), or
a leaky-ReLU channel of the attention that never changes sign (the attention becomes linear
there, and softmax's shift invariance makes some weights irrelevant).
"""
import dgl
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

_PIECEWISE = {F.relu, torch.relu, torch.Tensor.relu, F.leaky_relu, torch.nn.functional.leaky_relu}


class _Kinks(TorchFunctionMode):
    """Records the inputs of ReLU / LeakyReLU calls."""

    def __init__(self):
        super().__init__()
        self.inputs = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in _PIECEWISE:
            self.inputs.append(args[0].detach())
        return func(*args, **(kwargs or {}))


def _every_channel_changes_sign(model, input_sets):
    signs = []
    with torch.no_grad():
        for inputs in input_sets:
            with _Kinks() as kinks:
                model(*inputs)
            signs.append([(x > 0).any(0) & (x < 0).any(0) for x in kinks.inputs])
    return all(torch.stack([s[i] for s in signs]).any(0).all() for i in range(len(signs[0])))


def random_graph(num_nodes, seed):
    dgl.seed(seed)
    return dgl.add_self_loop(dgl.remove_self_loop(dgl.rand_graph(num_nodes, 3 * num_nodes)))


def input_sets(in_feats, count=4, num_nodes=30, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [(random_graph(num_nodes, seed + i),
             torch.randn(num_nodes, in_feats, generator=generator, dtype=torch.float64))
            for i in range(count)]


def generic_parameters_(model, sets, seed=0, tries=50):
    """Draw every parameter from N(0, 1) until no ReLU channel is stuck on one side."""
    generator = torch.Generator().manual_seed(seed)
    for _ in range(tries):
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype))
        if _every_channel_changes_sign(model, sets):
            return model
    raise RuntimeError("no generic parameters found")
