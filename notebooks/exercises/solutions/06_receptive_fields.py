"""Reference solutions for notebooks/exercises/06_receptive_fields.ipynb (one function per cell)."""

from fractions import Fraction

from minideeplab.receptive_field.recurrence import AxisState


def conv_step(state, k, s, p, d):
    k_eff = d * (k - 1) + 1
    # one step on this layer's input grid is state.jump input pixels
    return AxisState(size=state.size + (k_eff - 1) * state.jump,
                     jump=state.jump * s,
                     padding=state.padding + p * state.jump,
                     start=state.start + (Fraction(k_eff - 1, 2) - p) * state.jump)
