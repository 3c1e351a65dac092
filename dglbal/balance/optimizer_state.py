"""How an optimizer's state follows a rescaling along the symmetries.

A group's rescaling by lambda multiplies its parameters by ``lambda ** e`` and their gradients
by ``lambda ** -e``; running means of gradients follow the gradients, those of squared
gradients their squares. :class:`~dglbal.Rebalancer` checks the whole state with
:func:`check_state` before it moves any parameter, then rescales it with
:func:`rescale_state_`.
"""
from __future__ import annotations

import warnings
from typing import Dict, Iterable, List, Sequence, Set

import torch

__all__ = ["IGNORED_STATE", "STATE_POWERS", "check_state", "held_parameter_ids", "rescale_state_",
           "state_powers", "warn_uncarried"]

# State key -> power p, the entry is multiplied by lambda ** (-p e) (p = 1 for running means
# of gradients, 2 for those of squared gradients). Keys in IGNORED_STATE do not depend on the
# parameters' scale (step counters).
STATE_POWERS: Dict[type, Dict[str, int]] = {
    torch.optim.SGD: {"momentum_buffer": 1},
    torch.optim.Adam: {"exp_avg": 1, "exp_avg_sq": 2, "max_exp_avg_sq": 2},
    torch.optim.AdamW: {"exp_avg": 1, "exp_avg_sq": 2, "max_exp_avg_sq": 2},
    torch.optim.NAdam: {"exp_avg": 1, "exp_avg_sq": 2},
    torch.optim.RAdam: {"exp_avg": 1, "exp_avg_sq": 2},
    torch.optim.Adamax: {"exp_avg": 1, "exp_inf": 1},
    torch.optim.Adagrad: {"sum": 2},
}
IGNORED_STATE = {"step", "mu_product"}


def state_powers(optimizer: torch.optim.Optimizer) -> Dict[str, int]:
    """The powers of ``optimizer``'s state entries (``STATE_POWERS``).

    Raises
    ------
    TypeError
        For an optimizer whose state dglbal does not know, naming the supported ones.
    """
    powers = STATE_POWERS.get(type(optimizer))
    if powers is None:
        known = ", ".join(sorted(cls.__name__ for cls in STATE_POWERS))
        raise TypeError(f"Rebalancer cannot carry the state of {type(optimizer).__name__} along "
                        f"the rescaling; supported optimizers: {known} (or pass optimizer=None "
                        "for one without state)")
    return powers


def _rescaled_entries(optimizer: torch.optim.Optimizer, param: torch.Tensor):
    return [(key, value) for key, value in optimizer.state.get(param, {}).items()
            if key not in IGNORED_STATE and isinstance(value, torch.Tensor)]


def check_state(optimizer: torch.optim.Optimizer, params: Iterable[torch.Tensor],
                powers: Dict[str, int]) -> None:
    """Refuse, before anything moves, a state entry of ``params`` whose transformation is
    unknown (a key not in ``powers``, or a tensor not shaped like its parameter).

    Raises
    ------
    TypeError
        Naming the key and the optimizer.
    """
    for p in params:
        for key, value in _rescaled_entries(optimizer, p):
            if key not in powers or value.shape != p.shape:
                raise TypeError(f"Rebalancer does not know how optimizer state {key!r} of "
                                f"{type(optimizer).__name__} transforms")


def rescale_state_(optimizer: torch.optim.Optimizer, param: torch.Tensor, factor: torch.Tensor,
                   powers: Dict[str, int]) -> None:
    """Divide ``param``'s state entries by ``factor ** power`` in place (after
    :func:`check_state`)."""
    for key, value in _rescaled_entries(optimizer, param):
        power = powers[key]
        value.div_(factor if power == 1 else factor ** power)  # no copy of the factor for 1


def held_parameter_ids(optimizer: torch.optim.Optimizer) -> Set[int]:
    """The ``id`` of every parameter ``optimizer`` holds, over all its parameter groups."""
    return {id(p) for group in optimizer.param_groups for p in group["params"]}


def warn_uncarried(optimizer: torch.optim.Optimizer, names: Sequence[str],
                   params: Sequence[torch.Tensor], stacklevel: int) -> None:
    """Warn when ``optimizer`` does not hold some trainable parameters of ``params`` (trained
    by another optimizer, that one's state would not follow their rescaling), and when a
    parameter group holding some of them puts into the state a term that does not scale like
    the gradients (L2 weight decay outside AdamW or decoupled decay, Adagrad's
    ``initial_accumulator_value``).

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        The optimizer whose state the rebalancer carries.
    names, params : sequence
        The rescaled parameters and their names.
    stacklevel : int
        Of the warning, counted from this function.
    """
    held = held_parameter_ids(optimizer)
    missing = [n for n, p in zip(names, params) if p.requires_grad and id(p) not in held]
    if missing:
        warnings.warn(f"Rebalancer: {type(optimizer).__name__} does not hold {len(missing)} "
                      f"trainable parameter(s) it rescales ({', '.join(missing[:3])}"
                      f"{', ...' if len(missing) > 3 else ''}); if another optimizer trains "
                      "them, its state (momentum, moments) is not rescaled with them",
                      UserWarning, stacklevel=stacklevel)
    inexact = _inexact_options(optimizer, {id(p) for p in params if p.requires_grad})
    if inexact:
        warnings.warn(f"Rebalancer: {type(optimizer).__name__}'s state is not carried exactly "
                      f"with {', '.join(inexact)}: it holds terms that scale like the parameters "
                      "(L2 weight decay) or not at all (a starting sum), which are rescaled like "
                      "gradients; exact without them (AdamW, or decoupled_weight_decay=True)",
                      UserWarning, stacklevel=stacklevel)


def _inexact_options(optimizer: torch.optim.Optimizer, rescaled: Set[int]) -> List[str]:
    """The options of the parameter groups holding a rescaled parameter that add to the state
    a term not scaling like the gradients: weight decay added to the gradient (not AdamW's, nor
    with ``decoupled_weight_decay``), Adagrad's ``initial_accumulator_value``."""
    found = []
    for group in optimizer.param_groups:
        if not any(id(p) in rescaled for p in group["params"]):
            continue
        if group.get("weight_decay", 0) and not isinstance(optimizer, torch.optim.AdamW) \
                and not group.get("decoupled_weight_decay", False):
            found.append(f"weight_decay={group['weight_decay']}")
        if group.get("initial_accumulator_value", 0):
            found.append(f"initial_accumulator_value={group['initial_accumulator_value']}")
    return list(dict.fromkeys(found))
