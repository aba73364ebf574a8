"""Matplotlib for files, never a window: the one way every report gets its pyplot."""

from __future__ import annotations


def pyplot():
    """`matplotlib.pyplot` on the Agg backend (plots go to files; a server has no display), imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
