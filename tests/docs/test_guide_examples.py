"""The Python examples of the documentation's guides run (docs/guide/*.md).

Each page's ```python blocks run in order in one namespace, after the page's setup below,
which stands for what the prose says the reader already has (a model, a graph, features).
The quickstart page's examples are doctests (``make doctest``); the README's quickstart is
run by ``test_readme.py``.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Dict, List

import pytest

GUIDES = Path(__file__).resolve().parents[2] / "docs" / "guide"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)

SMALL_MODEL = """
import dgl, torch, dglbal
import dgl.nn as dglnn
import torch.nn.functional as F
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = dglnn.GATv2Conv(16, 8, num_heads=4, share_weights=True, bias=False)
        self.conv2 = dglnn.GraphConv(32, 32)
        self.head = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3))

    def forward(self, g, x):
        h = F.relu(self.conv1(g, x).flatten(1))
        return self.head(F.relu(self.conv2(g, h)) + h)

model = Net()
g = dgl.add_self_loop(dgl.rand_graph(20, 60))
x = torch.randn(20, 16)
"""
CORA = """
from dglbal.data import load_dataset
graph = load_dataset("cora")
"""
SETUP: Dict[str, str] = {
    "analyser.md": "",
    "balancing.md": SMALL_MODEL,
    "diagnose.md": CORA,
    "layers.md": "",
    "rescaling.md": """
import torch
from dglbal.nn import GAT
model = GAT(8, 16, 3, num_layers=3)
g, x = model.probe_inputs()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
epochs = 3
loss_fn = lambda out: out.square().mean()
graph, feat = g, x
import lightning
""",
    "testing.md": SMALL_MODEL + """
g1, x1 = g, x
g2, x2 = dgl.add_self_loop(dgl.rand_graph(12, 30)), torch.randn(12, 16)
""",
}
NEEDS_CORA = {"diagnose.md", "layers.md"}
# pages whose examples use an optional extra (TensorBoard's writer, the Lightning callback)
NEEDS_EXTRAS = {"rescaling.md": ("tensorboard", "lightning")}


def _blocks(page: Path) -> List[str]:
    return BLOCK.findall(page.read_text())


def test_every_guide_with_python_examples_is_run() -> None:
    with_examples = {p.name for p in GUIDES.glob("*.md") if _blocks(p)}
    assert with_examples == set(SETUP), "add the page's setup to SETUP"


@pytest.mark.parametrize("name", sorted(SETUP))
def test_guide_examples_run(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if name in NEEDS_CORA and not os.environ.get("DGLBAL_DATA"):
        pytest.skip("needs Cora: set DGLBAL_DATA")
    for extra in NEEDS_EXTRAS.get(name, ()):
        pytest.importorskip(extra, reason=f"{name} needs the extra: pip install 'dglbal[{extra}]'")
    monkeypatch.chdir(tmp_path)  # examples that write files (plots) write them here
    namespace: dict = {"__name__": f"guide_{name[:-3]}"}
    exec(compile(SETUP[name], f"<setup of {name}>", "exec"), namespace)
    try:
        for i, block in enumerate(_blocks(GUIDES / name)):
            exec(compile(block, f"<{name}, example {i + 1}>", "exec"), namespace)
    finally:  # a page's TensorBoard writer: stop its thread before tmp_path goes
        writer = namespace.get("writer")
        if writer is not None:
            writer.close()

