"""What ``check`` returns: the ladder's results and, printed, the diagnosis of the first failure.

``report.passed`` is a bool; ``print(report)`` shows one headline, the ladder
(case, passed or not, worst error, gradient check) and, for the first failing
case, what a learner needs to fix it alone (see :mod:`.diagnose`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["OutputResult", "CaseResult", "Report"]

#: A backward pass passes its gradient check below this relative error (float64).
GRADCHECK_THRESHOLD = 1e-6


def _kind_of(problem: str) -> str:
    """A problem sentence in two words, for the ladder's column."""
    for word, kind in (("NaN", "NaN or inf"), ("cache", "unusable cache"), ("dtype", "wrong dtype"),
                       ("shape", "wrong shape"), ("None", "None")):
        if word in problem:
            return kind
    return "wrong type"


@dataclass
class OutputResult:
    """One named output of one case: equal to the reference or not, and where it is worst."""

    name: str
    ok: bool
    expected: object = None
    actual: object = None
    worst: float | None = None        # largest |actual - expected| (arrays and numbers)
    index: tuple | None = None        # where that is, for arrays
    problem: str | None = None        # a wrong type, shape, dtype, or an unusable cache


@dataclass
class CaseResult:
    """One rung of the ladder, run with the learner's function."""

    number: int
    label: str
    geometry: str
    features: dict
    outputs: list = field(default_factory=list)
    problem: str | None = None        # it raised, or returned something of the wrong form
    problem_kind: str | None = None   # "exception", "form" or "not implemented"
    gradcheck: float | None = None
    trial: object = None              # kept for the diagnosis (suspects, context)
    args: tuple | None = None

    @property
    def passed(self) -> bool:
        # written so that a NaN relative error fails
        gradcheck_ok = self.gradcheck is None or self.gradcheck < GRADCHECK_THRESHOLD
        return self.problem is None and all(o.ok for o in self.outputs) and gradcheck_ok

    @property
    def worst_error(self):
        errors = [o.worst for o in self.outputs if o.worst is not None]
        return max(errors) if errors else None

    def wrong_outputs(self):
        return [o for o in self.outputs if not o.ok]


@dataclass
class Report:
    """The result of ``mdl.exercises.check(name, fn)``."""

    exercise: str
    function_name: str
    cases: list

    @property
    def passed(self) -> bool:
        return bool(self.cases) and all(case.passed for case in self.cases)

    @property
    def implemented(self) -> bool:
        """False when the function raised ``NotImplementedError`` (the notebooks' placeholder)."""
        return not any(case.problem_kind == "not implemented" for case in self.cases)

    @property
    def first_failure(self):
        return next((case for case in self.cases if not case.passed), None)

    def headline(self) -> str:
        from .diagnose import diagnose

        total = len(self.cases)
        if not self.implemented:
            return (f"{self.exercise}: not implemented yet ({self.function_name} raises "
                    "NotImplementedError)")
        if self.passed:
            checked = any(c.gradcheck is not None for c in self.cases)
            return (f"{self.exercise}: passed all {total} cases (equal to the library's"
                    + (", gradient-checked" if checked else "") + ")")
        failure = self.first_failure
        passing = sum(case.passed for case in self.cases)
        finding = diagnose(self).headline
        return (f"{self.exercise}: FAILED ({passing} of {total} cases pass); first failure: "
                f"case {failure.number} '{failure.label}': {finding}")

    def ladder_lines(self) -> list:
        lines = []
        width = max(len(case.label) for case in self.cases)
        for case in self.cases:
            mark = "ok  " if case.passed else "FAIL"
            if case.problem is not None:
                detail = {"exception": "raised an exception", "not implemented":
                          "not implemented", "form": "wrong form"}.get(case.problem_kind, "")
            elif any(o.problem for o in case.wrong_outputs()):
                detail = ", ".join(f"{o.name}: {_kind_of(o.problem)}"
                                   for o in case.wrong_outputs() if o.problem)
            else:
                worst = case.worst_error
                wrong = ", ".join(o.name for o in case.wrong_outputs())
                detail = "" if worst is None else f"worst error {worst:.1e}"
                if wrong:
                    detail += f" ({wrong})"
            if case.gradcheck is not None:
                detail += f"  gradcheck {case.gradcheck:.1e}"
            lines.append(f"  {case.number:>2} {mark} {case.label:<{width}}  {detail}".rstrip())
        return lines

    def __str__(self) -> str:
        from .diagnose import diagnose

        lines = [self.headline()]
        if not self.implemented:
            lines.append("  write the function, run the check again: the ladder starts with "
                         f"'{self.cases[0].label}'")
            return "\n".join(lines)
        lines.append("ladder (simplest first):")
        lines += self.ladder_lines()
        if not self.passed:
            lines.append("")
            lines += diagnose(self).lines()
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Report {self.headline()}>"

    def _repr_pretty_(self, printer, cycle):     # IPython shows the whole report
        printer.text(str(self))
