"""Training curves: the loss per step and the validation mIoU per evaluation."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .style import finish, new_figure, styled

__all__ = ["plot_training_curves"]


@styled
def plot_training_curves(history, title: str = "Training", path=None) -> Figure:
    """Loss per step (raw and smoothed) and validation mIoU / boundary mIoU per evaluation."""
    fig = new_figure(10, 3.8)
    ax_loss, ax_miou = fig.subplots(1, 2)
    steps = np.asarray(history["step"])
    loss = np.asarray(history["loss"], dtype=float)
    ax_loss.plot(steps, loss, color="0.75", linewidth=0.8, label="per step")
    if len(loss) >= 20:
        window = max(len(loss) // 50, 10)
        smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
        ax_loss.plot(steps[window - 1:], smooth, color="C0", label=f"mean of {window} steps")
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("cross-entropy loss (log scale)")
    ax_loss.set_title("training loss")
    ax_loss.legend()
    if history.get("eval_step"):
        ax_miou.plot(history["eval_step"], history["val_miou"], "o-", label="val mIoU")
        ax_miou.plot(history["eval_step"], history["val_boundary_miou"], "s--",
                     label="val boundary mIoU")
    ax_miou.set_ylim(0, 1)
    ax_miou.set_xlabel("step")
    ax_miou.set_ylabel("mean IoU")
    ax_miou.set_title("validation")
    ax_miou.grid(alpha=0.3)
    ax_miou.legend(loc="best")
    fig.suptitle(title)
    return finish(fig, path)
