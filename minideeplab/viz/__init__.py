"""Figures: every picture the notebooks show, one function each.

Every function returns a :class:`matplotlib.figure.Figure` and, given ``path``,
also saves it as a PNG. One style for all (:mod:`.style`); the figures by topic:

* :mod:`.atrous` -- atrous sampling, gridding, taps on padding, ASPP branches;
* :mod:`.fields` -- receptive-field growth and the effective receptive field;
* :mod:`.model_fields` -- a DeepLabV3+ model's receptive field block by block;
* :mod:`.segmentation` -- class palette, colourised masks, overlays, samples, predictions;
* :mod:`.curves` -- training curves;
* :mod:`.report` -- the evaluation report: confusion matrix, trimap curve, lowest-mIoU gallery.
* :mod:`.architecture` -- the paper's pictures drawn from the code (Fig. 2 and Fig. 3);
* :mod:`.explorers` -- figures with many knobs (atrous taps on padding, ASPP's branches, the
  receptive field layer by layer), which :mod:`.interactive` wraps in sliders (ipywidgets,
  imported only when a slider is made).
"""

from .architecture import plot_architecture, plot_separable_convolution
from .atrous import (
    plot_aspp_fields,
    plot_atrous_sampling,
    plot_gridding,
    plot_valid_tap_fraction,
)
from .curves import plot_training_curves
from .explorers import plot_aspp_explorer, plot_atrous_padding, plot_receptive_field_explorer
from .fields import plot_erf, plot_erf_comparison, plot_rf_growth
from .model_fields import plot_rf_by_block
from .report import plot_confusion_matrix, plot_gallery, plot_trimap_curve
from .segmentation import (
    IGNORE_COLOUR,
    class_palette,
    colorize_mask,
    overlay,
    plot_overlay,
    plot_predictions,
    show_samples,
)
from .style import STYLE, save_figure

__all__ = [
    "STYLE", "save_figure",
    "plot_atrous_sampling", "plot_gridding", "plot_valid_tap_fraction", "plot_rf_growth",
    "plot_erf", "plot_erf_comparison", "plot_aspp_fields",
    "plot_training_curves", "plot_predictions", "plot_overlay",
    "class_palette", "colorize_mask", "overlay", "show_samples", "IGNORE_COLOUR",
    "plot_confusion_matrix", "plot_trimap_curve", "plot_gallery",
    "plot_architecture", "plot_separable_convolution",
    "plot_atrous_padding", "plot_aspp_explorer", "plot_receptive_field_explorer",
    "plot_rf_by_block",
]
