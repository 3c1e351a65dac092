"""The one place where rules are registered: per torch op, per DGL op, per module type.

A rule states how an op moves exponents: ``rule(ctx, func, args, kwargs, out)`` for an op,
``rule(ctx, module, args, kwargs, out)`` for a module (the module's inner ops are then not
traced). See :class:`~dglbal.symmetry.context.TraceContext` for what a rule can do, and the
README for an example.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple, Type

from torch import nn

Rule = Callable[..., None]

OP_RULES: Dict[Any, Rule] = {}
MODULE_RULES: Dict[Type[nn.Module], Tuple[Rule, Optional[Callable[[nn.Module], bool]]]] = {}
DGL_RULES: Dict[type, Rule] = {}  # DGL autograd Function class -> rule(ctx, args, out)


def register_op_rule(*funcs: Any) -> Callable[[Rule], Rule]:
    """Decorator: use the rule for these torch functions / Tensor methods."""
    def decorator(rule: Rule) -> Rule:
        for func in funcs:
            OP_RULES[func] = rule
        return rule
    return decorator


def register_module_rule(*module_types: Type[nn.Module],
                         applies: Optional[Callable[[nn.Module], bool]] = None
                         ) -> Callable[[Rule], Rule]:
    """Decorator: use the rule for calls of modules of these types (and their subclasses);
    with ``applies``, only for the modules it accepts (the others are traced op by op).

    Example
    -------
    >>> import torch
    >>> class Square(torch.nn.Module):          # x -> x * x: exponents double
    ...     def forward(self, x):
    ...         return x * x
    >>> @register_module_rule(Square)
    ... def square_rule(ctx, module, args, kwargs, out):
    ...     ctx.set_field(out, ctx.combine([(2, ctx.field(args[0]))]))
    """
    def decorator(rule: Rule) -> Rule:
        for module_type in module_types:
            MODULE_RULES[module_type] = (rule, applies)
        return rule
    return decorator


def module_rule_for(module: nn.Module) -> Optional[Rule]:
    for cls in type(module).__mro__:
        if cls in MODULE_RULES:
            rule, applies = MODULE_RULES[cls]
            return rule if applies is None or applies(module) else None
    return None
