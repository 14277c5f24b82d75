"""Sliders and drop-downs that redraw a figure of the library (``ipywidgets``, in the
``notebooks`` extra).

* :func:`explore_atrous` -- kernel size, rate, map size, output position:
  :func:`~minideeplab.viz.explorers.plot_atrous_padding`;
* :func:`explore_aspp` -- output stride, rates, map size:
  :func:`~minideeplab.viz.explorers.plot_aspp_explorer`;
* :func:`explore_gridding` -- a stack of rates: :func:`~minideeplab.viz.plot_gridding` and
  Wang et al.'s HDC check;
* :func:`explore_receptive_field` -- output stride 8/16/32, a layer, a position:
  :func:`~minideeplab.viz.explorers.plot_receptive_field_explorer`.

``ipywidgets`` is imported inside these functions only, so ``import minideeplab.viz`` never
needs it. Each returns the widget box to display (the last expression of a notebook cell);
the figure functions work without Jupyter, and the notebooks show them for the default values
so that they read on the code host without a kernel.
"""

from __future__ import annotations

from .. import receptive_field as rf
from ..errors import InputError, InputTypeError
from ..models.deeplab import DeepLabV3Plus
from .atrous import plot_gridding
from .explorers import (
    RF_LAYERS,
    plot_aspp_explorer,
    plot_atrous_padding,
    plot_receptive_field_explorer,
)
from .style import as_image

__all__ = ["explore_atrous", "explore_aspp", "explore_gridding", "explore_receptive_field",
           "parse_rates"]


def _widgets():
    try:
        import ipywidgets
    except ImportError as error:                       # not an input error: a missing extra
        raise ImportError("the explorers need ipywidgets: pip install -e '.[notebooks]'") \
            from error
    return ipywidgets


def _explorer(figure_function, controls: dict, title: str, note=None):
    """Sliders ``controls`` above an output that redraws ``figure_function(**values)``.

    The figure is appended to the output widget's state (``append_display_data``) rather
    than captured with ``with output:``: a notebook run headless (nbclient, nbmake) can hang
    on a widget that captures output while its cell executes. A typed value the figure
    refuses is shown as one ``error:`` line instead of a traceback.
    """
    widgets = _widgets()
    output = widgets.Output()

    def redraw(change=None):
        values = {name: control.value for name, control in controls.items()}
        output.outputs = ()
        try:
            output.append_display_data(figure_function(**values))
            if note is not None:
                output.append_stdout(note(**values) + "\n")
        except (InputError, InputTypeError) as error:
            output.append_stdout(f"error: {error}\n")

    for control in controls.values():
        control.observe(redraw, "value")
    redraw()
    header = widgets.HTML(f"<b>{title}</b>")
    return widgets.VBox([header, widgets.HBox(list(controls.values())), output])


def explore_atrous():
    """Kernel size, rate, map size and an output position: :func:`plot_atrous_padding`."""
    w = _widgets()
    slider = dict(continuous_update=False)           # redraw when the slider is let go
    size = w.IntSlider(9, 3, 33, description="map n", **slider)
    controls = {"kernel_size": w.Dropdown(options=[1, 3, 5, 7], value=3, description="kernel"),
                "rate": w.IntSlider(2, 1, 24, description="rate", **slider), "input_size": size,
                "position": w.IntSlider(0, 0, 8, description="output y=x", **slider)}
    size.observe(lambda change: setattr(controls["position"], "max", change["new"] - 1), "value")

    def draw(kernel_size, rate, input_size, position):
        position = min(position, input_size - 1)
        return plot_atrous_padding(kernel_size, rate, input_size, (position, position))
    return _explorer(draw, controls, "Atrous taps: on the map or on the padding?")


def explore_aspp():
    """Output stride, rates and map size: :func:`plot_aspp_explorer`."""
    w = _widgets()
    controls = {"output_stride": w.Dropdown(options=[8, 16, 32], value=16, description="OS"),
                "rates": w.Text("6, 12, 18", description="rates"),
                "map_size": w.IntSlider(33, 2, 65, description="map size",
                                        continuous_update=False)}

    def draw(output_stride, rates, map_size):
        return plot_aspp_explorer(output_stride, parse_rates(rates), map_size)
    return _explorer(draw, controls, "ASPP: field of view and taps on the map, per branch")


def parse_rates(text: str) -> tuple:
    """'1, 2, 5' -> (1, 2, 5): the rates typed into a text box."""
    try:
        return tuple(int(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        raise InputError(f"rates must be whole numbers separated by commas, got {text!r}") \
            from None


def explore_gridding():
    """Two stacks of rates side by side: :func:`minideeplab.viz.plot_gridding` and the HDC check."""
    w = _widgets()
    presets = ["2, 2, 2", "1, 2, 5", "1, 2, 9", "1, 2, 3", "2, 4, 8", "1, 3, 9", "3, 3, 3, 3"]
    controls = {name: w.Combobox(value=value, description=name, ensure_option=False,
                                 options=presets, continuous_update=False)
                for name, value in (("rates_a", "1, 2, 5"), ("rates_b", "1, 2, 9"))}

    def draw(rates_a, rates_b):
        return plot_gridding(rate_stacks=(parse_rates(rates_a), parse_rates(rates_b)))

    def verdict(rates_a, rates_b):
        stacks = (parse_rates(rates_a), parse_rates(rates_b))
        return "\n".join(str(rf.hdc_check(stack)) if len(stack) > 1 else
                         f"rates {stack}: one layer, nothing to grid" for stack in stacks)
    return _explorer(draw, controls, "Gridding: which input pixels reach one output?", verdict)


def explore_receptive_field(model=None, image=None, n_samples: int = 4):
    """Output stride 8/16/32, a layer and a position: :func:`plot_receptive_field_explorer`.

    ``model`` (default: an untrained ``DeepLabV3Plus(5)``) gives the weights; the models at
    the three output strides share them (dilation changes no weight shape).
    """
    w = _widgets()
    base = DeepLabV3Plus(5) if model is None else model
    by_stride = {}
    for stride in (8, 16, 32):
        options = {k: v for k, v in base.config.items() if k != "num_classes"}
        copy = DeepLabV3Plus(base.num_classes, **{**options, "output_stride": stride})
        copy.load_state_dict(base.state_dict())
        by_stride[stride] = copy.eval()
    side = 64 if image is None else as_image(image).shape[0]
    controls = {"output_stride": w.Dropdown(options=[8, 16, 32], value=base.output_stride,
                                            description="OS"),
                "layer": w.Dropdown(options=list(RF_LAYERS), value="stage 2",
                                    description="layer"),
                "y": w.IntSlider(side // 2, 0, side - 1, description="y", continuous_update=False),
                "x": w.IntSlider(side // 2, 0, side - 1, description="x", continuous_update=False)}

    def draw(output_stride, layer, y, x):
        return plot_receptive_field_explorer(by_stride[output_stride], layer, (y, x), image,
                                             n_samples)
    return _explorer(draw, controls, "Receptive field of one unit, layer by layer")
