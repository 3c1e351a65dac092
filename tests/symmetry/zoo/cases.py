"""Every zoo case, and the ``dgl.nn.pytorch`` classes left out of the zoo with the reason."""
from . import conv, plain, readout, transformer  # noqa: F401  (register the cases)
from .registry import CASES, Case

_EXPLAINER = ("an explainer: wraps a trained model and optimises masks over its inputs; it "
              "adds no layer of its own to analyse")
_CUGRAPH = "needs CUDA and pylibcugraphops (not installable here); same maths as {}"
_WALKS = ("an embedding trainer: forward takes random walks and returns a skip-gram loss, "
          "not a layer applied to a graph and features")

EXCLUDED = {
    "CuGraphGATConv": _CUGRAPH.format("GATConv"),
    "CuGraphSAGEConv": _CUGRAPH.format("SAGEConv"),
    "CuGraphRelGraphConv": _CUGRAPH.format("RelGraphConv"),
    "GNNExplainer": _EXPLAINER,
    "HeteroGNNExplainer": _EXPLAINER,
    "PGExplainer": _EXPLAINER,
    "HeteroPGExplainer": _EXPLAINER,
    "SubgraphX": _EXPLAINER,
    "HeteroSubgraphX": _EXPLAINER,
    "DeepWalk": _WALKS,
    "MetaPath2Vec": _WALKS,
    "LabelPropagation": ("has no parameters, and casts labels and degrees to float32 inside "
                         "forward, so it cannot run in a float64 model"),
    "LapPosEncoder": ("casts its inputs to float32 inside forward (`.float()`), so the float64 "
                      "checks at 1e-9 cannot run on it"),
}

#: what is wrong today (strict xfails in tests/test_zoo.py); remove an entry when it passes
KNOWN_FAILURES: dict = {}

#: outcomes that depend on which cases ran before in the same process (non-strict xfails)
ORDER_DEPENDENT: dict = {}

__all__ = ["CASES", "Case", "EXCLUDED", "KNOWN_FAILURES", "ORDER_DEPENDENT"]
