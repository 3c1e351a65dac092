"""The one place where rules are registered: per torch op, per DGL op, per module type.

A rule states how an op moves exponents: ``rule(ctx, func, args, kwargs, out)`` for an op,
``rule(ctx, args, out)`` for one of DGL's autograd Functions, ``rule(ctx, module, args, kwargs,
out)`` for a module (the module's inner ops are then not traced). See
:class:`~dglbal.symmetry.context.TraceContext` for what a rule can do, and the analyser guide
(docs/guide/analyser.md, "Teaching it a new op or module") for an example.

The registry also knows which ops are *gates*: ops such as a softmax over attention logits or
DGL's ``EdgeSoftmax``, whose input must have exponent 0 and which only weigh other values.
Parameters that reach the outputs only through gates are listed in ``report.gates`` (the
attention vectors that balancing's init mode zeroes). An op is a gate when it is registered
with ``gate=True``; the tracer asks :func:`is_gate`.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Set, Tuple, Type

import torch
from torch import nn

__all__ = ["Rule", "RuleError", "OP_RULES", "DGL_RULES", "MODULE_RULES", "GATES",
           "register_op_rule", "register_dgl_rule", "register_module_rule", "module_rule_for",
           "is_gate"]

Rule = Callable[..., None]


class RuleError(RuntimeError):
    """A rule (built-in or registered) failed on an op of the traced model.

    A ``RuntimeError`` naming the op, the module it ran in and the rule's error.

    Parameters
    ----------
    *args
        The message, as for ``RuntimeError``.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from dglbal import analyze
    >>> class Odd(nn.Module):
    ...     def forward(self, x):
    ...         return x
    >>> @register_module_rule(Odd)
    ... def broken_rule(ctx, module, args, kwargs, out):
    ...     raise ZeroDivisionError("a bug in the rule")
    >>> try:
    ...     analyze(nn.Sequential(nn.Linear(3, 4), Odd()), torch.randn(2, 3))
    ... except RuleError as error:
    ...     print(type(error.__cause__).__name__)
    ZeroDivisionError
    """


Applies = Callable[[nn.Module], bool]

OP_RULES: Dict[Any, Rule] = {}  # torch function / Tensor method / torch.ops op -> rule
DGL_RULES: Dict[type, Rule] = {}  # DGL autograd Function class -> rule(ctx, args, out)
MODULE_RULES: Dict[Type[nn.Module], Tuple[Rule, Optional[Applies]]] = {}
GATES: Set[Any] = set()  # the ops, DGL Function classes and module types registered as gates


def _checked(kind: str, keys: Tuple[Any, ...], valid: Callable[[Any], bool], what: str
             ) -> Callable[[Rule], Rule]:
    """Refuse what cannot be registered (before anything is), and rules that are not
    callable."""
    if not keys:
        raise TypeError(f"{kind}: name at least one {what} to register the rule for")
    for key in keys:
        if not valid(key):
            raise TypeError(f"{kind}: {key!r} is not a {what}")

    def check_rule(rule: Rule) -> Rule:
        if not callable(rule):
            raise TypeError(f"{kind}: the rule must be callable, got {type(rule).__name__}")
        return rule
    return check_rule


def _mark_gate(key: Any, gate: bool) -> None:
    """Registering a rule replaces what was known of the op, its gate flag included."""
    if gate:
        GATES.add(key)
    else:
        GATES.discard(key)


def register_op_rule(*funcs: Any, gate: bool = False) -> Callable[[Rule], Rule]:
    """Decorator: use the rule for these torch functions, Tensor methods or custom ops.

    The rule is called as ``rule(ctx, func, args, kwargs, out)`` after each call of one of
    ``funcs`` on parameter-dependent values; it reads the inputs' exponent fields from ``ctx``
    (a :class:`~dglbal.symmetry.context.TraceContext`), states constraints and sets the
    outputs' fields. A function of your own is seen as one op when it takes part in
    ``__torch_function__`` dispatch (``torch.overrides.handle_torch_function``); the torch
    calls inside it are then not traced. Registering a rule for an op that has one replaces it,
    gate flag included.

    Parameters
    ----------
    *funcs : callable
        The ops the rule is for: torch functions (``torch.softmax``), Tensor methods
        (``torch.Tensor.softmax``), ``torch.ops`` overload packets or your own functions.
    gate : bool, default False
        The ops are gates: they only weigh other values (a softmax over attention logits), and
        the rule holds their input at exponent 0. Parameters that reach the outputs only
        through gates are listed in ``report.gates``; balancing's init mode zeroes them.

    Returns
    -------
    callable
        A decorator that registers the rule and returns it unchanged.

    Examples
    --------
    A custom normalizer of attention logits, seen by the tracer as one op, and a gate:

    >>> import torch
    >>> from torch.overrides import handle_torch_function, has_torch_function
    >>> def sharp_softmax(logits):
    ...     if has_torch_function((logits,)):
    ...         return handle_torch_function(sharp_softmax, (logits,), logits)
    ...     return torch.softmax(4.0 * logits, dim=-1)
    >>> @register_op_rule(sharp_softmax, gate=True)
    ... def sharp_softmax_rule(ctx, func, args, kwargs, out):
    ...     ctx.require_zero(ctx.field(args[0]))   # not scale-invariant: logits at exponent 0
    ...     ctx.set_field(out, None)               # the weights are pure numbers
    >>> is_gate(sharp_softmax)
    True
    """
    check = _checked("register_op_rule", funcs, callable,
                     "torch function, Tensor method or torch.ops op")

    def decorator(rule: Rule) -> Rule:
        check(rule)
        for func in funcs:
            OP_RULES[func] = rule
            _mark_gate(func, gate)
        return rule
    return decorator


def register_dgl_rule(*functions: type, gate: bool = False) -> Callable[[Rule], Rule]:
    """Decorator: use the rule for these autograd Functions of DGL's PyTorch backend.

    Parameters
    ----------
    *functions : type
        Classes of ``dgl.backend.pytorch.sparse`` (``GSpMM``, ``EdgeSoftmax``, ...): the tracer
        wraps their ``apply`` and calls ``rule(ctx, args, out)`` with the Function's arguments.
        A rule raises ``KeyError`` for an argument it does not know (an unknown reducer): the
        op is then reported and held at exponent 0.
    gate : bool, default False
        The Functions are gates (``EdgeSoftmax``), as in :func:`register_op_rule`.

    Returns
    -------
    callable
        A decorator that registers the rule and returns it unchanged.

    Examples
    --------
    A Function that doubles its input keeps its input's exponents:

    >>> import torch
    >>> from torch import nn
    >>> from dglbal import analyze
    >>> class Double(torch.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         return 2 * x
    ...     @staticmethod
    ...     def backward(ctx, grad):
    ...         return 2 * grad
    >>> @register_dgl_rule(Double)
    ... def double_rule(ctx, args, out):
    ...     ctx.set_field(out, ctx.field(args[0]))
    >>> class Net(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.a, self.b = nn.Linear(3, 4), nn.Linear(4, 2)
    ...     def forward(self, x):
    ...         return self.b(Double.apply(torch.relu(self.a(x))))
    >>> len(analyze(Net(), torch.randn(5, 3)).groups)
    4
    """
    check = _checked("register_dgl_rule", functions, lambda f: isinstance(f, type) and issubclass(
        f, torch.autograd.Function), "torch.autograd.Function class of DGL's backend")

    def decorator(rule: Rule) -> Rule:
        check(rule)
        for function in functions:
            DGL_RULES[function] = rule
            _mark_gate(function, gate)
        return rule
    return decorator


def register_module_rule(*module_types: Type[nn.Module], applies: Optional[Applies] = None,
                         gate: bool = False) -> Callable[[Rule], Rule]:
    """Decorator: use the rule for calls of modules of these types (and their subclasses).

    The rule is called as ``rule(ctx, module, args, kwargs, out)`` and replaces the tracing of
    the module's inner ops (use it for custom kernels the tracer cannot see).

    Parameters
    ----------
    *module_types : type
        Module classes; subclasses use the rule of their nearest registered base.
    applies : callable, optional
        ``applies(module) -> bool``: use the rule only for the modules it accepts and trace the
        others op by op (``HGTConv``'s rule covers one node type).
    gate : bool, default False
        The modules are gates: parameters that reach the outputs only through them (their own
        parameters included) are listed in ``report.gates``, as in :func:`register_op_rule`.

    Returns
    -------
    callable
        A decorator that registers the rule and returns it unchanged.

    Raises
    ------
    TypeError
        If a type is not an ``nn.Module`` subclass, or ``applies`` or the rule is not
        callable.

    Examples
    --------
    >>> import torch
    >>> class Square(torch.nn.Module):          # x -> x * x: exponents double
    ...     def forward(self, x):
    ...         return x * x
    >>> @register_module_rule(Square)
    ... def square_rule(ctx, module, args, kwargs, out):
    ...     ctx.set_field(out, ctx.combine([(2, ctx.field(args[0]))]))
    """
    check = _checked("register_module_rule", module_types, lambda t: isinstance(t, type) and
                     issubclass(t, nn.Module), "torch.nn.Module subclass")
    if applies is not None and not callable(applies):
        raise TypeError(f"register_module_rule: applies must be callable, got "
                        f"{type(applies).__name__}")

    def decorator(rule: Rule) -> Rule:
        check(rule)
        for module_type in module_types:
            MODULE_RULES[module_type] = (rule, applies)
            _mark_gate(module_type, gate)
        return rule
    return decorator


def _registered_type(module: nn.Module) -> Optional[type]:
    """The nearest class in the module's MRO with a rule, if that rule applies to it."""
    for cls in type(module).__mro__:
        if cls in MODULE_RULES:
            _, applies = MODULE_RULES[cls]
            return cls if applies is None or applies(module) else None
    return None


def module_rule_for(module: nn.Module) -> Optional[Rule]:
    """The rule registered for the module's type (or a base type), if it applies.

    Parameters
    ----------
    module : torch.nn.Module
        A module called during the trace.

    Returns
    -------
    callable or None
        The rule, or None when the module is traced op by op.
    """
    cls = _registered_type(module)
    return None if cls is None else MODULE_RULES[cls][0]


def is_gate(op: Any) -> bool:
    """Whether an op was registered as a gate (``gate=True``).

    Parameters
    ----------
    op : object
        A torch function or custom op, a DGL autograd Function class, or a module instance
        (whose registered type, or nearest registered base type, is looked up).

    Returns
    -------
    bool
        True for a gate.

    Examples
    --------
    >>> import torch
    >>> from dgl.backend.pytorch.sparse import EdgeSoftmax
    >>> is_gate(EdgeSoftmax), is_gate(torch.softmax), is_gate(torch.relu)
    (True, True, False)
    """
    if isinstance(op, nn.Module):
        op = _registered_type(op)
        return op is not None and op in GATES
    return op in GATES
