"""Receptive fields: which input pixels can change one output, and which ones do.

Four questions about a stack of (atrous) convolutions, one module each:

1. **Theoretical receptive field** -- the window of input pixels that *can*
   influence one output unit; exact arithmetic on the layer geometry, no
   weights needed. :mod:`.recurrence` holds the recurrence (size, jump,
   effective padding, start) and the rows it produces; :mod:`.theoretical`
   walks a list of layer specs or a model through it
   (:func:`receptive_field`, :func:`format_table`, :func:`receptive_field_box`).
2. **Effective receptive field** (:mod:`.effective`) -- how much each input
   pixel *does* influence it, measured by back-propagating from one output unit
   through the real model (Luo et al., NeurIPS 2016).
3. **Gridding and the HDC rule** (:mod:`.gridding`) -- stacked rates that skip
   input pixels, and Wang et al.'s rule that avoids it.
4. **Taps on padding** (:mod:`.valid_taps`) -- rates so large that the taps of
   an atrous kernel fall on the zero padding of a small map.

The layer specs a model describes itself with (``LayerSpec``, ``GlobalPoolSpec``,
``UpsampleSpec``, ``ParallelSpec``) live in :mod:`minideeplab.geometry`, below
the models; they are re-exported here, also under their first names ``Layer``,
``GlobalPool``, ``Upsample`` and ``Parallel``.

    >>> from minideeplab import receptive_field as rf
    >>> [row.size for row in rf.receptive_field([(3, 1, 1, 1), (3, 2, 1, 1), (3, 1, 2, 2)])]
    [3, 5, 13]
"""

from ..geometry import GlobalPoolSpec, LayerSpec, ParallelSpec, UpsampleSpec
from .effective import check_erf, effective_receptive_field, erf_moments, erf_radius
from .gridding import HDCResult, count_holes, gridding_pattern, hdc_check
from .recurrence import RFRow, format_table, per_axis, receptive_field_box
from .theoretical import receptive_field
from .valid_taps import valid_tap_fraction, valid_tap_map

# the first names of the layer specs, kept for code and notebooks that use them
Layer = LayerSpec
GlobalPool = GlobalPoolSpec
Upsample = UpsampleSpec
Parallel = ParallelSpec

__all__ = [
    "LayerSpec", "GlobalPoolSpec", "UpsampleSpec", "ParallelSpec",
    "Layer", "GlobalPool", "Upsample", "Parallel", "RFRow",
    "receptive_field", "format_table", "receptive_field_box", "per_axis",
    "effective_receptive_field", "check_erf", "erf_moments", "erf_radius",
    "gridding_pattern", "count_holes", "HDCResult", "hdc_check",
    "valid_tap_map", "valid_tap_fraction",
]
