"""Figures: saving the ones a block left open, and listing what ended up in output/figures."""

from __future__ import annotations

import sys

from . import report
from .paths import Workspace


def track_savefig() -> None:
    """Mark figures the block saved itself, so save_open_figures does not save them twice."""
    import matplotlib.figure

    original = matplotlib.figure.Figure.savefig
    if getattr(original, "_ragomics_tracked", False):
        return

    def savefig(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self._ragomics_saved = True
        return original(self, *args, **kwargs)

    savefig._ragomics_tracked = True  # type: ignore[attr-defined]
    matplotlib.figure.Figure.savefig = savefig  # type: ignore[method-assign]


def save_open_figures() -> None:
    """Inline code may draw without saving: keep every figure still open and never saved."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return
    for num in list(plt.get_fignums()):
        fig = plt.figure(num)
        if not fig.axes or getattr(fig, "_ragomics_saved", False):
            plt.close(fig)
            continue
        report.savefig(fig, f"figure_{num}.png")


def collect_figures(ws: Workspace, reported: list[str]) -> list[str]:
    """Every file under output/figures (relative to output/): reported ones first, in their order."""
    found: list[str] = []
    if ws.figures_dir.is_dir():
        for p in sorted(ws.figures_dir.rglob("*")):
            if p.is_file() and not p.name.startswith(".tmp-"):
                found.append(p.relative_to(ws.output_dir).as_posix())
    ordered: list[str] = []
    for f in [*reported, *found]:
        if f in found and f not in ordered:
            ordered.append(f)
    return ordered
