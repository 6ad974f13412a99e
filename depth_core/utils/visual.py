"""Depth images for people: colour maps shared by the evaluation reports."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

__all__ = ["colourise", "line_plot", "report_panels"]


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


DEPTH_TICKS_M = (1, 2, 5, 10, 20, 50, 80, 150, 300)


def report_panels(path: Path, rows: list[list[tuple]], titles: list, suptitle: str, *, max_depth: float = 80.0,
                  error_cap: float = 0.2) -> Path:
    """The reports' sample figure (replay, training, video): labelled panels with colour bars.

    Each panel is ``(kind, data)``: ``("image", rgb)``; ``("depth", depth [H,W] m)`` in turbo on
    inverse depth (red near, blue far, 1 m .. ``max_depth``, invalid black); ``("points", (rgb,
    depth))`` sparse depth drawn as dots on the dimmed image, same scale; ``("error", (rgb, pred,
    truth))`` the relative error at the truth's points, green 0 % .. red >= ``error_cap``;
    ``("map", (values [H,W], label, vmax))`` a grey map (black 0 .. white >= ``vmax``).
    Every colour scale gets a colour bar with its units. ``titles``: one per column (over the first
    row), or a list per row (every panel labelled)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    h, w = _panel_shape(rows[0][0])
    per_panel = bool(titles) and isinstance(titles[0], (list, tuple))
    cols = max(len(row) for row in rows)
    panel_w = 3.6
    fig, axes = plt.subplots(len(rows), cols, figsize=(panel_w * cols, (panel_w * h / w + 0.55) * len(rows) + 0.5),
                             squeeze=False)
    depth_norm = LogNorm(vmin=1.0 / max_depth, vmax=1.0)
    turbo = plt.get_cmap("turbo").with_extremes(bad="black")
    dot = 5.0                      # marker area in points^2: a few pixels at report size, whatever the image size
    labels, bars = [], []
    for r, row in enumerate(rows):
        for c, (kind, data) in enumerate(row):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if per_panel or r == 0:
                ax.set_title(titles[r][c] if per_panel else titles[c], fontsize=9)
                labels.append(titles[r][c] if per_panel else titles[c])
            mappable, label = None, None
            if kind == "image":
                ax.imshow(data)
            elif kind == "depth":
                with np.errstate(divide="ignore", invalid="ignore"):
                    inv = np.where(np.isfinite(data) & (data > 0), 1.0 / np.clip(data, 1.0, max_depth), np.nan)
                mappable = ax.imshow(np.ma.masked_invalid(inv), cmap=turbo, norm=depth_norm)
                label = "depth (m)"
            elif kind == "points":
                rgb, depth = data
                ax.imshow((rgb * 0.35).astype(np.uint8))
                v, u = np.nonzero(np.isfinite(depth) & (depth > 0))
                mappable = ax.scatter(u, v, c=1.0 / np.clip(depth[v, u], 1.0, max_depth), cmap=turbo, norm=depth_norm,
                                      s=dot, marker="s", linewidths=0)
                label = "depth (m)"
            elif kind == "error":
                rgb, pred, truth = data
                ax.imshow((rgb * 0.35).astype(np.uint8))
                m = (truth > 0) & np.isfinite(pred)
                v, u = np.nonzero(m)
                rel = 100 * np.abs(pred[m] - truth[m]) / truth[m]
                mappable = ax.scatter(u, v, c=rel, cmap="RdYlGn_r", vmin=0, vmax=100 * error_cap, s=dot, marker="s",
                                      linewidths=0)
                label = f"relative error (%, red >= {100 * error_cap:g})"
            elif kind == "map":
                values, label, vmax = data
                mappable = ax.imshow(np.nan_to_num(values), cmap="gray", vmin=0, vmax=vmax)
            ax.set_xlim(-0.5, w - 0.5)
            ax.set_ylim(h - 0.5, -0.5)
            if mappable is not None:
                bar = fig.colorbar(mappable, ax=ax, orientation="horizontal", fraction=0.06, pad=0.03)
                bar.set_label(label, fontsize=7)
                bars.append(label)
                bar.ax.tick_params(labelsize=6)
                if label == "depth (m)":
                    ticks = [t for t in DEPTH_TICKS_M if t <= max_depth]
                    bar.set_ticks([1.0 / t for t in ticks])
                    bar.set_ticklabels([f"{t:g}" for t in ticks])
    fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    # What is drawn, also as PNG text, for tools (and tests) that cannot read pictures.
    fig.savefig(path, dpi=100, metadata={"Title": suptitle, "Description": "panels: " + "; ".join(labels)
                                         + " | colour bars: " + "; ".join(dict.fromkeys(bars))})
    plt.close(fig)
    return path


def _panel_shape(panel: tuple) -> tuple[int, int]:
    kind, data = panel
    first = data[0] if kind in ("points", "error", "map") else data
    return first.shape[:2]
