"""What is wrong, and where: the diagnosis of a ladder's first failing case.

Four kinds of evidence, most specific first:

1. the *form*: an exception (and the learner's line it came from), a wrong
   shape, dtype or type, an unusable cache;
2. *suspects*: classic mistakes the case can compute (the kernel not flipped,
   the running statistics in training, only the last ASPP branch, ...) -- if an
   output equals one of them, that is almost certainly the bug;
3. the *ladder*: which features separate the failing cases from the passing
   ones ("fails exactly when dilation > 1");
4. the *array*: patterns in the wrong output itself -- off by a constant factor
   (named when it is 1/N, H*W, ...), the sign, spatially flipped, channels
   transposed, shifted by a pixel, wrong only at the border, all zeros.

Each finding has a key; :mod:`.hints` turns keys into hints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backend import use_backend
from ..gradcheck import rel_error
from ..implementation import library_implementation
from .hints import hint_for

__all__ = ["Finding", "Diagnosis", "diagnose", "array_findings", "ladder_findings"]

#: Two arrays "match" (a pattern or a suspect explains the output) below this relative error.
MATCH = 1e-6


@dataclass
class Finding:
    key: str        # for the hint: "factor", "only:dilation > 1", "kernel not flipped", ...
    text: str       # a sentence for the "pattern" line
    short: str      # a few words for the headline


@dataclass
class Diagnosis:
    exercise: str
    case: object
    what: str               # "dx is wrong", "raised ValueError: ...", ...
    findings: list

    @property
    def headline(self) -> str:
        shorts = [f.short for f in self.findings if f.short][:2]
        return "; ".join([self.what] + shorts)

    def lines(self) -> list:
        case = self.case
        lines = [f"first failing case: {case.number} '{case.label}'",
                 f"  geometry: {case.geometry}"]
        if case.problem is not None:
            lines.append(f"  your function {case.problem}")
        if case.outputs:
            parts = []
            for o in case.outputs:
                if o.ok:
                    parts.append(f"{o.name} ok")
                elif o.problem:
                    parts.append(f"{o.name} WRONG ({o.problem})")
                elif o.worst is not None:
                    parts.append(f"{o.name} WRONG (worst error {o.worst:.2g})")
                else:
                    parts.append(f"{o.name} WRONG")
            lines.append("  outputs: " + ", ".join(parts))
            worst = _worst_element(case)
            if worst:
                lines.append(f"  {worst}")
        if case.gradcheck is not None:
            verdict = "passes" if case.gradcheck < 1e-6 else "fails"
            lines.append(f"  gradient check (random upstream gradient, float64): relative "
                         f"error {case.gradcheck:.1e}, {verdict} (below 1e-6 passes)")
        for finding in self.findings:
            if finding.text:
                lines.append(f"  pattern: {finding.text}")
        hints = []
        for finding in self.findings:
            hint = hint_for(self.exercise, finding.key)
            if hint and hint not in hints:
                hints.append(hint)
        if not hints:
            hints.append(hint_for(self.exercise, "default"))
        lines += [f"  hint: {hint}" for hint in hints if hint]
        return lines


def _worst_element(case) -> str:
    for o in case.wrong_outputs():
        if o.problem and o.index is None:
            continue
        if isinstance(o.expected, np.ndarray) and o.index is not None:
            where = f"{o.name}[{', '.join(str(i) for i in o.index)}]"
            return (f"worst element: {where}: expected {o.expected[o.index]:.6g}, got "
                    f"{o.actual[o.index]:.6g}")
        return f"{o.name}: expected {o.expected!r}, got {o.actual!r}"
    return ""


# ------------------------------------------------------------------- the array

def _matches(actual, candidate) -> bool:
    candidate = np.asarray(candidate)
    if candidate.shape != np.shape(actual):
        return False
    if np.all(candidate == 0):
        return bool(np.all(np.asarray(actual) == 0))
    return rel_error(actual, candidate) < MATCH


def _name_factor(factor, context) -> str:
    for name, value in context.items():
        value = float(value)
        if value not in (0.0, 1.0) and abs(factor - value) <= 1e-6 * abs(value):
            return f" (= {name})"
        if value not in (0.0, 1.0) and abs(factor - 1.0 / value) <= 1e-6 / abs(value):
            return f" (= 1 / {name})"
    return ""


def array_findings(name, expected, actual, context) -> list:
    """Patterns of a wrong array output relative to the expected one."""
    if not (isinstance(expected, np.ndarray) and isinstance(actual, np.ndarray)) \
            or expected.shape != actual.shape or not np.all(np.isfinite(actual)):
        return []
    e, a = expected.astype(np.float64), actual.astype(np.float64)
    if np.all(a == 0) and not np.all(e == 0):
        return [Finding("zero", f"{name} is all zeros", f"{name} is all zeros")]
    findings = []
    norm = float(np.sum(e * e))
    if norm > 0:
        factor = float(np.sum(a * e) / norm)
        if rel_error(a, factor * e) < MATCH and abs(factor - 1) > 1e-6:
            if abs(factor + 1) < 1e-6:
                return [Finding("sign", f"{name} has the wrong sign everywhere",
                                "the wrong sign")]
            named = _name_factor(factor, context)
            return [Finding("factor", f"{name} is off by a constant factor {factor:.6g}{named}: "
                            "the direction is right, the scale is not",
                            f"off by a constant factor {factor:.4g}{named}")]
    if e.ndim >= 2 and e.shape[-1] * e.shape[-2] > 1:
        if _matches(a, e[..., ::-1, ::-1]):
            findings.append(Finding("flipped", f"{name} is spatially flipped (upside down and "
                                    "mirrored)", "spatially flipped"))
    if e.ndim == 4 and e.shape[0] * e.shape[1] > 1:
        swapped = e.shape[1], e.shape[0], *e.shape[2:]
        if _matches(a.reshape(swapped).swapaxes(0, 1), e):
            findings.append(Finding("transposed", f"{name} has its two channel axes "
                                    "transposed (computed as (C_in, C_out) and reshaped)",
                                    "channels transposed"))
    if e.ndim >= 2 and min(e.shape[-2:]) >= 3 and not findings:
        findings += _shift_findings(name, e, a)
    if e.ndim >= 2 and min(e.shape[-2:]) >= 3 and not findings:
        findings += _border_findings(name, e, a)
    return findings


def _shift_findings(name, e, a) -> list:
    h, w = e.shape[-2:]
    for dy in (-2, -1, 0, 1, 2):
        for dx in (-2, -1, 0, 1, 2):
            if (dy, dx) == (0, 0) or h - abs(dy) < 2 or w - abs(dx) < 2:
                continue
            # a[i] == e[i - dy]: compare where both are defined
            a_part = a[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)]
            e_part = e[..., max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
            if np.any(e_part != 0) and _matches(a_part, e_part):
                return [Finding("shifted", f"{name} is the expected map shifted by ({dy}, {dx}) "
                                "pixels (rows, columns)", f"shifted by ({dy}, {dx}) pixels")]
    return []


def _border_findings(name, e, a) -> list:
    h, w = e.shape[-2:]
    wrong = np.abs(a - e) > MATCH * max(1.0, float(np.max(np.abs(e))))
    wrong_pixels = wrong.reshape(-1, h, w).any(axis=0)
    rows, cols = np.indices((h, w))
    distance = np.minimum.reduce([rows, cols, h - 1 - rows, w - 1 - cols])
    for width in (1, 2):
        interior = distance >= width
        if interior.any() and wrong_pixels.any() and not wrong_pixels[interior].any():
            return [Finding("border", f"{name} is wrong only within {width} pixel(s) of the "
                            "border; the interior is right", "wrong only at the border")]
    return []


# ------------------------------------------------------------------ the ladder

def ladder_findings(cases) -> list:
    """Which features the failing cases share that the passing ones lack."""
    failing = {c.number for c in cases if not c.passed}
    passing = {c.number for c in cases if c.passed}
    if not failing:
        return []
    if not passing:
        return [Finding("all", "every case fails, even the simplest one",
                        "fails from the simplest case on")]
    exact, covering = [], []
    for feature in cases[0].features:
        having = {c.number for c in cases if c.features.get(feature)}
        if failing == having:
            exact.append(feature)
        elif failing < having:
            covering.append((len(having), feature))
    if exact:
        feature = exact[0]
        return [Finding(f"only:{feature}", f"it fails exactly in the cases with {feature} "
                        "(every other case passes)", f"fails exactly in the cases with {feature}")]
    either = _either_of_two(cases, failing)
    if either:
        first, second = either
        return [Finding(f"only:{first}", f"it fails exactly in the cases with {first} or "
                        f"{second} (every other case passes)",
                        f"fails exactly in the cases with {first} or {second}"),
                Finding(f"only:{second}", "", "")]
    if covering:
        feature = min(covering)[1]
        return [Finding(f"only:{feature}", f"every failing case has {feature} (not every case "
                        f"with {feature} fails)", f"fails only in cases with {feature}")]
    return []


def _either_of_two(cases, failing):
    """Two features whose cases together are exactly the failing ones, if there are such."""
    features = list(cases[0].features)
    having = {f: {c.number for c in cases if c.features.get(f)} for f in features}
    for i, first in enumerate(features):
        for second in features[i + 1:]:
            if having[first] and having[second] and having[first] | having[second] == failing:
                return first, second
    return None


# ------------------------------------------------------------------- together

def _suspect_findings(case) -> list:
    if case.trial is None or case.trial.suspects is None:
        return []
    wrong = {o.name: o for o in case.wrong_outputs() if o.problem is None}
    if not wrong:
        return []
    try:
        with library_implementation(), use_backend("numpy"), np.errstate(all="ignore"):
            suspects = case.trial.suspects(case.trial.make_args()[0])
    except Exception:  # noqa: BLE001  (a suspect that cannot be computed here says nothing)
        return []
    found = []
    for suspect in suspects:
        for name, value in suspect.values.items():
            output = wrong.get(name)
            if output is None:
                continue
            if isinstance(value, np.ndarray):
                hit = _matches(output.actual, value)
            else:
                hit = output.actual == value
            if hit:
                found.append(Finding(suspect.key, suspect.text, f"looks like '{suspect.key}'"))
    return found


def diagnose(report) -> Diagnosis:
    """The diagnosis of ``report``'s first failing case (an empty one when everything passes).

    Findings with an empty text only carry a key for a hint (e.g. ``output:dgamma``).
    """
    case = report.first_failure
    if case is None:
        return Diagnosis(report.exercise, None, "passed", [])
    ladder = ladder_findings(report.cases)
    if case.problem is not None:
        key = "exception" if case.problem_kind == "exception" else "form"
        return Diagnosis(report.exercise, case, f"your function {case.problem}",
                         [Finding(key, "", "")] + ladder)
    wrong = case.wrong_outputs()
    if not wrong:
        return Diagnosis(report.exercise, case, "the values match but the gradient check fails",
                         [Finding("gradcheck", "the gradient check fails although the values "
                                  "match the library's", "")] + ladder)
    first = wrong[0]
    findings = []
    if first.problem:
        what = first.problem
        kind = "cache" if first.name == "cache" else "nan" if "NaN" in first.problem \
            else "dtype" if "dtype" in first.problem \
            else "shape" if "shape" in first.problem else "form"
        findings.append(Finding(f"{kind}:{first.name}", "", ""))
    else:
        names = ", ".join(o.name for o in wrong)
        what = f"{names} {'is' if len(wrong) == 1 else 'are'} wrong"
        findings += _suspect_findings(case)
    suspected = bool(findings) and not first.problem
    findings += ladder
    if not first.problem and not suspected:
        # every wrong output: one mistake often spreads (dgamma computed as a mean, then used
        # in dx), and the output where it began shows the clearest pattern
        for output in wrong:
            if output.problem is None:
                findings += array_findings(output.name, output.expected, output.actual,
                                           case.trial.context)
    findings.append(Finding(f"output:{first.name}", "", ""))
    return Diagnosis(report.exercise, case, what, findings)
