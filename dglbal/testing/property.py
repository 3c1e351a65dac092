""":func:`check_model`: every check of the kit as one hypothesis property over drawn graphs
and parameter points, for a user's own model in a user's own CI.

Needs hypothesis (``dglbal[testing]``).
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, Tuple

import hypothesis
import torch
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy
from torch import nn

from dglbal.symmetry.arguments import describe_inputs

from .checks import (VacuousCheckError, _check_input_sets, _check_options, _prepare,
                     check_noether, check_rescale_invariance)
from .completeness import check_complete
from .graphs import describe_graph, input_sets
from .strategies import inputs as graph_inputs
from .balancing import check_balancing
from .training import check_monitor, check_training

__all__ = ["PARTS", "check_model"]

#: the parts of :func:`check_model`, in the order they run
PARTS = ("symmetry", "noether", "training", "monitor", "balancing", "complete")

_PER_EXAMPLE = {
    "symmetry": check_rescale_invariance,
    "noether": check_noether,
    "training": check_training,
    "monitor": check_monitor,
    "balancing": check_balancing,
}


def _check_arguments(make_model: Any, in_feats: Optional[int], inputs: Any, parts: Any,
                     perturb: Any, expected_groups: Any, settings: Any) -> Tuple[str, ...]:
    if not callable(make_model) or isinstance(make_model, nn.Module):
        raise TypeError("make_model must be a function that builds the model (e.g. "
                        f"lambda: MyModel(16)), got {type(make_model).__name__}")
    if in_feats is None and inputs is None:
        raise ValueError("check_model needs in_feats (the model's input width, for the "
                         "default graphs and features) or inputs (a strategy of input tuples)")
    if in_feats is not None:
        _check_options(nn.Module(), in_feats=in_feats)
    if inputs is not None and not isinstance(inputs, SearchStrategy):
        raise TypeError(f"inputs must be a hypothesis strategy of input tuples, e.g. "
                        f"dglbal.testing.strategies.inputs(16), got {type(inputs).__name__}")
    if isinstance(parts, str) or not all(p in PARTS for p in parts) or not parts:
        raise ValueError(f"parts must be a non-empty list of {', '.join(PARTS)}; got {parts!r}")
    if isinstance(perturb, bool) or not isinstance(perturb, (int, float)) or \
            not 0 <= perturb < float("inf"):
        raise ValueError(f"perturb must be a finite number >= 0, got {perturb!r}")
    if expected_groups is not None and (isinstance(expected_groups, bool) or not isinstance(
            expected_groups, int) or expected_groups < 0):
        raise ValueError(f"expected_groups must be an int >= 0, got {expected_groups!r}")
    if settings is not None and not isinstance(settings, hypothesis.settings):
        raise TypeError(f"settings must be a hypothesis.settings, e.g. settings(max_examples=20), "
                        f"got {type(settings).__name__}")
    return tuple(parts)


def _build(make_model: Callable[[], nn.Module], seed: int, perturb: float) -> nn.Module:
    """The model at a parameter point: built under ``seed``, every parameter moved by
    ``perturb`` N(0, 1) noise (zero biases and attention vectors hide mistakes). The
    caller's random state is left alone."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = make_model()
        if not isinstance(model, nn.Module):
            raise TypeError(f"make_model must return a torch.nn.Module, got "
                            f"{type(model).__name__}")
        with torch.no_grad():
            for p in model.parameters():
                if p.is_floating_point():
                    p.add_(perturb * torch.randn_like(p))
    return model


def _run(part: str, check: Callable, model: nn.Module, checked: Tuple[Any, ...], report,
         seed: int, analysed: Tuple[Any, ...]) -> None:
    try:
        check(model, *checked, report=report)
    except AssertionError as error:
        where = describe_inputs(analysed, graph=describe_graph)
        raise AssertionError(f"check_model, part {part!r} (model seed {seed}; analysed on "
                             f"{where}): {error}") from error


def check_model(make_model: Callable[[], nn.Module], in_feats: Optional[int] = None, *,
                inputs: Optional[SearchStrategy] = None, parts: Sequence[str] = PARTS,
                expected_groups: Optional[int] = None,
                complete_inputs: Optional[Sequence[Sequence[Any]]] = None,
                perturb: float = 0.3, settings: Optional[hypothesis.settings] = None) -> None:
    """Property-test a model: for drawn parameter points and pairs of drawn inputs, analyse
    the model on one input and check its groups on the other.

    Per example (a model seed, an analysed input and a checked input):

    - ``"symmetry"``: random lambdas on every group leave the outputs on the *other* input
      unchanged (:func:`~dglbal.testing.check_rescale_invariance`);
    - ``"noether"``: sum_k e_k theta_k dL/dtheta_k = 0 (:func:`~dglbal.testing.check_noether`);
    - ``"training"``: delta_g = 0 along SGD and Adam, c_g moves by lr^2 sum e grad^2 per SGD
      step (:func:`~dglbal.testing.check_training`);
    - ``"monitor"``: a ConservationMonitor of a training-mode run does not drift
      (:func:`~dglbal.testing.check_monitor`);
    - ``"balancing"``: balancing reaches c = 0 and preserve mode keeps the function
      (:func:`~dglbal.testing.check_balancing`).

    Once per call, ``"complete"``: the groups span the black-box symmetry space on
    ``complete_inputs`` (:func:`~dglbal.testing.check_complete`; default: two random graphs of
    30 nodes with self-loops and features of width ``in_feats``). It runs on fixed rich inputs,
    not drawn ones: on a graph with no edges a weight the outputs do not read is trivially
    free, which is no missed symmetry. ``expected_groups`` checks the number of groups there.

    Failures raise ``AssertionError`` naming the part, the model seed, the group and its
    parameters, both inputs (graph nodes and edges) and the measured error; hypothesis shrinks
    them to a small graph first. An example on which no check could fail (outputs empty, or
    all zero: a lone node without in-edges, zero features) is rejected and another drawn
    (:class:`~dglbal.testing.VacuousCheckError`).

    Parameters
    ----------
    make_model : callable
        ``make_model() -> nn.Module``, called under a fixed torch seed per example.
    in_feats : int, optional
        The model's input width; the inputs are then ``strategies.inputs(in_feats)``: a graph
        without zero-in-degree nodes and float32 node features (the checks run in float64).
    inputs : SearchStrategy, optional
        Draws input tuples ``(graph, feat, ...)`` for ``model(*inputs)`` (bipartite graphs,
        blocks, batches, edge weights: see :mod:`dglbal.testing.strategies`).
    parts : sequence of str
        Which of :data:`PARTS` to run (all by default).
    expected_groups : int, optional
        The number of groups the analysis must find on ``complete_inputs`` (checked whenever
        given, also when ``parts`` leaves out ``"complete"``).
    complete_inputs : sequence of input tuples, optional
        The fixed inputs of ``"complete"`` (default: two random graphs of 30 nodes).
    perturb : float, default 0.3
        Every parameter is moved by ``perturb`` N(0, 1) noise after ``make_model()``.
    settings : hypothesis.settings, optional
        Example count and the like; by default the current profile (``--dglbal-profile`` of the
        pytest plugin), always without deadline.

    Returns
    -------
    None
        It returns when every example passed.

    Raises
    ------
    AssertionError
        From the first failing part (after hypothesis has shrunk the example).
    TypeError, ValueError
        If an argument is not usable (``make_model`` not callable, an unknown part, neither
        ``in_feats`` nor ``inputs``, ...), before anything runs.

    Examples
    --------
    >>> from hypothesis import settings
    >>> from dglbal.nn import GCN
    >>> check_model(lambda: GCN(4, 8, 2, num_layers=2), 4, parts=("symmetry", "noether"),
    ...             settings=settings(max_examples=2, derandomize=True))
    """
    parts = _check_arguments(make_model, in_feats, inputs, parts, perturb, expected_groups,
                             settings)
    drawn = inputs if inputs is not None else graph_inputs(in_feats)
    once = "complete" in parts or expected_groups is not None
    if once and complete_inputs is None and in_feats is None:
        raise ValueError("check_model: the 'complete' part and expected_groups need "
                         "complete_inputs (a list of input tuples) when in_feats is not given")
    if complete_inputs is not None:
        _check_input_sets(complete_inputs)
    per_example = [p for p in parts if p in _PER_EXAMPLE]
    if per_example:
        _property(make_model, drawn, per_example, perturb, settings)
    if once:
        _check_once(make_model, in_feats, parts, expected_groups, complete_inputs, perturb)


def _property(make_model: Callable[[], nn.Module], drawn: SearchStrategy,
              per_example: Sequence[str], perturb: float,
              settings: Optional[hypothesis.settings]) -> None:
    base = settings if settings is not None else hypothesis.settings.default
    # No deadline (an example analyses and trains a model), and no "explain" phase: it reruns
    # the failing example hundreds of times to say which draws do not matter.
    chosen = hypothesis.settings(
        base, deadline=None, phases=[p for p in base.phases if p is not Phase.explain],
        suppress_health_check=list(base.suppress_health_check) + [HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])

    @chosen
    @given(seed=st.integers(0, 2 ** 16), analysed=drawn, checked=drawn)
    def property_of_the_model(seed: int, analysed: Any, checked: Any) -> None:
        if not isinstance(analysed, (tuple, list)) or not isinstance(checked, (tuple, list)):
            raise TypeError(f"inputs must draw tuples of the model's inputs, e.g. (graph, "
                            f"feat); it drew a {type(analysed).__name__}")
        analysed, checked = tuple(analysed), tuple(checked)
        model = _build(make_model, seed, perturb)
        try:
            report = _prepare(model, analysed, None).report
            for part in per_example:
                _run(part, _PER_EXAMPLE[part], model, checked, report, seed, analysed)
        except VacuousCheckError:
            hypothesis.reject()  # no check could fail here (empty or all-zero outputs)

    property_of_the_model()


def _check_once(make_model: Callable[[], nn.Module], in_feats: Optional[int],
                parts: Tuple[str, ...], expected_groups: Optional[int],
                complete_inputs: Optional[Sequence[Sequence[Any]]], perturb: float) -> None:
    if complete_inputs is None:
        complete_inputs = input_sets(in_feats, count=2)
    model = _build(make_model, 0, perturb)
    report = _prepare(model, tuple(complete_inputs[0]), None).report
    if expected_groups is not None and len(report.groups) != expected_groups:
        raise AssertionError(f"check_model: {len(report.groups)} groups found, "
                             f"{expected_groups} expected")
    if "complete" in parts:
        try:
            check_complete(model, complete_inputs, report=report)
        except AssertionError as error:
            raise AssertionError(f"check_model, part 'complete' (model seed 0): {error}"
                                 ) from error
