"""Figures: every picture the notebooks show, one function each.

Every function returns a :class:`matplotlib.figure.Figure` and, given ``path``,
also saves it as a PNG. One style for all (:mod:`.style`); the figures by topic:

* :mod:`.fields` -- receptive fields and atrous sampling;
* :mod:`.segmentation` -- class palette, colourised masks, overlays, samples, predictions;
* :mod:`.curves` -- training curves.
"""

from .curves import plot_training_curves
from .fields import (
                     plot_aspp_fields,
                     plot_atrous_sampling,
                     plot_erf,
                     plot_erf_comparison,
                     plot_gridding,
                     plot_rf_growth,
                     plot_valid_tap_fraction,
)
from .segmentation import plot_overlay, plot_predictions
from .style import STYLE, save_figure

__all__ = [
    "STYLE", "save_figure",
    "plot_atrous_sampling", "plot_gridding", "plot_valid_tap_fraction", "plot_rf_growth",
    "plot_erf", "plot_erf_comparison", "plot_aspp_fields",
    "plot_training_curves", "plot_predictions", "plot_overlay",
]
