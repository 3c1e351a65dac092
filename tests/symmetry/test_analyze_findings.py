"""Refusals and notes: ``report.unsupported`` names what held values at exponent 0 and what
that pinned; ``report.notes`` what was read exactly (lookups by an index tensor, decisions,
wrappers) and refusals that cost nothing. The BatchNorm reason follows its mode."""
import torch
import torch.nn.functional as F
from torch import nn

import dglbal
from dglbal.symmetry import Finding
from dglbal.testing.checks import check_rescale_invariance
from dglbal.testing.graphs import input_sets


def _inputs():
    graph, x = input_sets(5, count=1, num_nodes=9, seed=99)[0]
    return graph, x.float()


class Tanh(nn.Module):
    def __init__(self, twice=False):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(5, 4), nn.Linear(4, 6), nn.Linear(6, 3)
        self.twice = twice

    def forward(self, graph, x):
        h = self.b(F.relu(self.a(x)))
        out = torch.tanh(h)
        if self.twice:  # the second reads what the first already held at 0
            out = out + torch.sigmoid(h)
        return self.c(out)


def test_refusal_names_op_module_and_what_it_pinned():
    report = dglbal.analyze(Tanh(), *_inputs())
    entry, = report.unsupported
    assert isinstance(entry, Finding) and entry.op == "torch.tanh" and entry.module == ""
    assert entry.cost == 6 and entry.pinned == {"b": 6}
    assert "pinned 6 exponents (b: 6)" in entry
    assert len(report.groups) == 4 and report.notes == []


def test_refusal_that_pinned_nothing_new_is_a_note():
    report = dglbal.analyze(Tanh(twice=True), *_inputs())
    assert [u.op for u in report.unsupported] == ["torch.tanh"]
    note, = report.notes
    assert note.op == "torch.sigmoid" and note.cost == 0 and "cost nothing" in note


def test_module_path_of_a_refusal():
    class Wrapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = nn.Sequential(nn.Linear(5, 4), nn.ELU(), nn.Linear(4, 3))

        def forward(self, graph, x):
            return self.block(x)

    entry, = dglbal.analyze(Wrapped(), *_inputs()).unsupported
    assert entry.module == "block.1" and entry.pinned == {"block.0": 4}


class Lookup(nn.Module):
    """An embedding table and a per-type scale picked by an index tensor."""

    def __init__(self):
        super().__init__()
        self.table = nn.Embedding(7, 4)
        self.scale = nn.Parameter(torch.rand(3) + 0.5)
        self.out = nn.Linear(4, 3)

    def forward(self, graph, x):
        ids = torch.arange(graph.num_nodes()) % 7
        kinds = torch.arange(graph.num_nodes()) % 3
        return self.out(F.relu(self.table(ids) * self.scale[kinds][:, None]))


def test_lookups_by_index_tensor_are_notes():
    model = Lookup()
    graph, x = _inputs()
    report = dglbal.analyze(model, graph, x)
    assert report.unsupported == []
    assert {n.op for n in report.notes} == {"F.embedding", "Tensor.__getitem__"}
    assert all("share one exponent" in n for n in report.notes)
    check_rescale_invariance(model, graph, x, report=report)


def test_wrapper_notes_come_first_and_stay_plain_text():
    model = nn.DataParallel(Lookup())
    report = dglbal.analyze(model, *_inputs())
    assert report.notes[0].startswith("DataParallel") and not isinstance(report.notes[0], Finding)
    assert len(report.notes) == 3


class Normed(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.norm, self.b = nn.Linear(5, 4), nn.BatchNorm1d(4), nn.Linear(4, 3)

    def forward(self, graph, x):
        return self.b(F.relu(self.norm(self.a(x))))


def test_batch_norm_reason_follows_the_mode():
    graph, x = _inputs()
    model = Normed()
    train, = dglbal.analyze(model.train(), graph, x).unsupported
    assert "statistics of the input" in train and "up to eps=1e-05" in train
    evaluated, = dglbal.analyze(model.eval(), graph, x).unsupported
    assert "running statistics" in evaluated and "affine map" in evaluated
    assert "not scale-invariant, even up to eps" in evaluated
    untracked = Normed()
    untracked.norm = nn.BatchNorm1d(4, track_running_stats=False)
    entry, = dglbal.analyze(untracked.eval(), graph, x).unsupported
    assert "statistics of the input" in entry  # no running statistics: batch ones in eval


def test_str_lists_refusals_and_notes():
    text = str(dglbal.analyze(Tanh(twice=True), *_inputs()))
    assert "held at exponent 0" in text and "torch.tanh" in text
    assert "note: torch.sigmoid" in text
