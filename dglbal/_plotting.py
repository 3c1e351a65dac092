"""The one place dglbal imports matplotlib, an optional dependency (``pip install 'dglbal[plot]'``).

Figures are made with matplotlib's object API (:class:`~matplotlib.figure.Figure` drawn by an
Agg canvas), never with ``pyplot`` or ``matplotlib.use``: plotting neither switches the user's
backend nor registers figures with pyplot, and ``import dglbal`` does not import matplotlib.
"""
from __future__ import annotations

import importlib
from typing import Any, Tuple

PLOT_EXTRA_HINT = "pip install 'dglbal[plot]'"


def require_plotting(purpose: str) -> None:
    """Raise, before any work, the ImportError :func:`new_figure` would raise later for
    ``purpose`` (``"--monitor"``: a plot written as each run finishes) when matplotlib is
    missing."""
    try:
        importlib.import_module("matplotlib.figure")
    except ImportError as error:
        raise ImportError(f"{purpose} plots need matplotlib: {PLOT_EXTRA_HINT} (nothing was "
                          "trained)") from error


def new_figure(nrows: int = 1, ncols: int = 1, *, figsize: Tuple[float, float],
               squeeze: bool = True) -> Tuple[Any, Any]:
    """A figure with an ``nrows`` x ``ncols`` grid of subplots, like ``pyplot.subplots``.

    Returns ``(figure, axes)``; ``figure.savefig(path, dpi=...)`` writes it (the PNG is drawn
    by Agg whatever backend the user selected). Nothing needs closing: pyplot never sees the
    figure, so it is freed with its last reference.

    Raises
    ------
    ImportError
        matplotlib is not installed.
    """
    try:
        # Optional dependency, imported on first use so that dglbal's core never needs it.
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(f"plotting needs matplotlib: {PLOT_EXTRA_HINT}") from error
    figure = Figure(figsize=figsize)
    FigureCanvasAgg(figure)  # attaches itself: layout and savefig use Agg, as pyplot's Agg did
    return figure, figure.subplots(nrows, ncols, squeeze=squeeze)
