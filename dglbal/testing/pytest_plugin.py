"""The pytest plugin of the test kit, registered by the package (entry point ``pytest11``):
installing ``dglbal[testing]`` makes it available in every pytest run.

- Two hypothesis profiles, ``dglbal-quick`` (10 examples, derandomized: CI sees the same
  examples on every run) and ``dglbal-thorough`` (200 random examples; a failure prints the
  ``@reproduce_failure`` blob that replays it). Both have no deadline. Choose one with
  ``--dglbal-profile quick|thorough``, the ``DGLBAL_PROFILE`` environment variable or the
  ``dglbal_profile`` ini option (in that order of precedence). Without any of them the plugin
  changes no setting: your other hypothesis tests keep theirs. Without hypothesis installed
  the fixtures still work, and choosing a profile is a usage error naming the extra.
- Fixtures of common small graphs: ``dglbal_graph`` (12 nodes with self-loops),
  ``dglbal_bipartite_graph``, ``dglbal_block`` (a sampled block), ``dglbal_batched_graph``
  (three graphs in a ``dgl.batch``), and ``dglbal_input_sets`` (a function
  ``(in_feats, count=4) -> [(graph, features), ...]``, see
  :func:`dglbal.testing.graphs.input_sets`).

Disable it with ``-p no:dglbal.testing.pytest_plugin``.
"""
from __future__ import annotations

import os
from typing import Callable, Dict, List, Tuple

import dgl
import pytest
import torch

from .graphs import bipartite, homogeneous, input_sets, sampled_block

try:  # the plugin loads in every pytest run where dglbal is installed, [testing] or not
    from hypothesis import HealthCheck, settings
except ModuleNotFoundError as missing:  # pragma: no cover - exercised in a test subprocess
    if missing.name != "hypothesis":
        raise
    settings = None

__all__ = ["PROFILES", "profile_name", "pytest_addoption", "pytest_configure",
           "pytest_report_header", "dglbal_graph", "dglbal_bipartite_graph", "dglbal_block",
           "dglbal_batched_graph", "dglbal_input_sets"]

#: profile -> hypothesis settings (registered as ``dglbal-<profile>``)
PROFILES: Dict[str, dict] = {
    "quick": dict(max_examples=10, derandomize=True),
    "thorough": dict(max_examples=200, derandomize=False, print_blob=True),
}
if settings is not None:
    for _name, _options in PROFILES.items():
        settings.register_profile(f"dglbal-{_name}", deadline=None, suppress_health_check=[
            HealthCheck.too_slow, HealthCheck.data_too_large], **_options)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dglbal", "dglbal test kit")
    group.addoption("--dglbal-profile", choices=sorted(PROFILES), default=None,
                    help="hypothesis profile: quick (10 derandomized examples, for CI) or "
                         "thorough (200 random examples); default: DGLBAL_PROFILE, then the "
                         "dglbal_profile ini option, else hypothesis's own settings")
    parser.addini("dglbal_profile", "the dglbal hypothesis profile: quick or thorough",
                  default="")


def profile_name(config: pytest.Config) -> str:
    """The profile chosen (``--dglbal-profile``, then ``DGLBAL_PROFILE``, then the
    ``dglbal_profile`` ini option), or "" for none."""
    name = (config.getoption("dglbal_profile") or os.environ.get("DGLBAL_PROFILE", "")
            or config.getini("dglbal_profile"))
    if name and name not in PROFILES:
        raise pytest.UsageError(f"dglbal profile {name!r} (from DGLBAL_PROFILE or the "
                                f"dglbal_profile ini option) is not one of "
                                f"{', '.join(sorted(PROFILES))}")
    if name and settings is None:
        raise pytest.UsageError(f"dglbal profile {name!r}: the profiles are hypothesis "
                                "settings, and hypothesis is not installed: "
                                "pip install 'dglbal[testing]'")
    return name


def pytest_configure(config: pytest.Config) -> None:
    name = profile_name(config)
    if name:
        settings.load_profile(f"dglbal-{name}")


def pytest_report_header(config: pytest.Config) -> List[str]:
    name = profile_name(config)
    if not name:
        return []
    options = PROFILES[name]
    how = ("derandomized: the same examples on every run" if options["derandomize"] else
           "random: a failure prints @reproduce_failure(...) to replay it")
    return [f"dglbal profile: {name} ({options['max_examples']} examples per property, {how})"]


@pytest.fixture
def dglbal_graph() -> dgl.DGLGraph:
    """A random graph of 12 nodes and ~40 edges, every self-loop once."""
    return homogeneous(num_nodes=12, num_edges=40)


@pytest.fixture
def dglbal_bipartite_graph() -> dgl.DGLGraph:
    """``user -rates-> item``: 9 users, 6 items, every item rated."""
    return bipartite()


@pytest.fixture
def dglbal_block() -> dgl.DGLGraph:
    """The first block of a 2-layer neighbour sample (fanout 4) of a 40-node graph."""
    return sampled_block()


@pytest.fixture
def dglbal_batched_graph() -> dgl.DGLGraph:
    """Three graphs of 5, 7 and 9 nodes with self-loops in one ``dgl.batch``."""
    return dgl.batch([homogeneous(n, 2 * n, seed=n) for n in (5, 7, 9)])


@pytest.fixture
def dglbal_input_sets() -> Callable[..., List[Tuple[dgl.DGLGraph, torch.Tensor]]]:
    """``dglbal_input_sets(in_feats, count=4)``: (graph, float64 features) pairs."""
    return input_sets
