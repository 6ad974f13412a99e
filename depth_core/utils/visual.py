"""Depth images for people: colour maps shared by the evaluation reports."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

__all__ = ["colourise", "image_grid", "line_plot"]


def colourise(depth: np.ndarray, max_depth: float) -> np.ndarray:
    """Depth [H,W] metres -> BGR uint8 (turbo on inverse depth, near = red; invalid = black)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.clip(1.0 / depth, 1.0 / max_depth, 1.0)
        norm = np.nan_to_num((np.log(inv) - np.log(1.0 / max_depth)) / -np.log(1.0 / max_depth), nan=0.0)
    bgr = cv2.applyColorMap((norm * 255).astype(np.uint8), cv2.COLORMAP_TURBO)
    bgr[~(np.isfinite(depth) & (depth > 0))] = 0
    return bgr


def line_plot(path: Path, series: dict, xlabel: str, ylabel: str, title: str, log_x: bool = False,
              hlines: dict | None = None) -> Path:
    """A PNG of ``series`` ({label: (x, y)}) with markers, a grid and a legend; ``hlines``
    ({label: y}) adds dashed reference levels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for label, (x, y) in series.items():
        ax.plot(x, y, "o-", label=label)
    for label, y in (hlines or {}).items():
        ax.axhline(y, color="grey", ls="--", label=label)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def image_grid(path: Path, rows: list[list[np.ndarray]], titles: list[str], suptitle: str) -> Path:
    """A PNG of labelled panels: ``rows`` of BGR uint8 images, one ``titles`` entry per column."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h, w = rows[0][0].shape[:2]
    cols = len(titles)
    fig, axes = plt.subplots(len(rows), cols, figsize=(3.2 * cols, 3.2 * cols * h / w / cols * len(rows) + 0.8),
                             squeeze=False)
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            ax = axes[r][c]
            ax.imshow(cv2.cvtColor(tile, cv2.COLOR_BGR2RGB))
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(titles[c], fontsize=9)
    fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
