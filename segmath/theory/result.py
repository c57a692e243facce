"""The result of a ``verify_*`` check: what was checked, on how many cases, the worst error, pass/fail."""
from __future__ import annotations

import html
import math
from dataclasses import dataclass, field


class VerificationError(AssertionError):
    """Raised by :meth:`Verification.assert_passed` when a check fails."""


@dataclass(frozen=True)
class Verification:
    """Outcome of one numerical verification of a statement.

    Attributes:
        claim: the statement checked, in words.
        cases: how many cases (points, masks, triples, ...) were checked.
        worst_error: the largest numerical error over all sub-checks (0 when all are exact).
        tolerance: the error allowed.
        passed: ``worst_error <= tolerance`` and every qualitative condition held.
        details: named sub-results (numbers and booleans) shown in the book.
        statement: the statement id (``"S8"``) when known.
    """
    claim: str
    cases: int
    worst_error: float
    tolerance: float
    passed: bool
    details: dict = field(default_factory=dict)
    statement: str = ""

    def __repr__(self):
        mark = "PASSED" if self.passed else "FAILED"
        head = f"[{mark}] {self.statement + ': ' if self.statement else ''}{self.claim}"
        lines = [head, f"  {self.cases} cases, worst error {self.worst_error:.3g} "
                       f"(tolerance {self.tolerance:.3g})"]
        lines += [f"  {k}: {_fmt(v)}" for k, v in self.details.items()]
        return "\n".join(lines)

    __str__ = __repr__

    def _repr_html_(self):
        colour = "#1a7f37" if self.passed else "#cf222e"
        mark = "&#10004; passed" if self.passed else "&#10008; FAILED"
        rows = "".join(f"<tr><td style='text-align:left'>{html.escape(str(k))}</td>"
                       f"<td style='text-align:left'>{html.escape(_fmt(v))}</td></tr>"
                       for k, v in self.details.items())
        sid = f"<b>{html.escape(self.statement)}</b> " if self.statement else ""
        return (f"<div class='segmath-verification' style='border-left:4px solid {colour};padding-left:8px'>"
                f"<p style='margin:0'>{sid}{html.escape(self.claim)}</p>"
                f"<p style='margin:0;color:{colour}'><b>{mark}</b>: {self.cases} cases, worst error "
                f"{self.worst_error:.3g} (tolerance {self.tolerance:.3g})</p>"
                # the sub-checks fold away: one summary line, the table on demand
                f"<details><summary style='cursor:pointer'>{len(self.details)} sub-checks</summary>"
                f"<table style='font-size:90%'>{rows}</table></details></div>")

    def assert_passed(self):
        """Raise :class:`VerificationError` (an ``AssertionError``) with the report unless passed."""
        if not self.passed:
            raise VerificationError(repr(self))
        return self


def _fmt(v):
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(e) for e in v) + "]"
    return str(v)


class Checker:
    """Collects errors and conditions of one verification, then builds the :class:`Verification`.

    ``error(name, value)`` records a numerical error (compared with the tolerance);
    ``condition(name, ok)`` records a qualitative fact that must hold;
    ``note(name, value)`` records a number for the reader (not judged).
    """

    def __init__(self, claim, tolerance, statement=""):
        self.claim, self.tolerance, self.statement = claim, float(tolerance), statement
        self.cases = 0
        self.worst = 0.0
        self.ok = True
        self.details = {}
        self._within = {}

    def count(self, n):
        self.cases += int(n)

    def error(self, name, value):
        value = float(value)
        if not math.isfinite(value):
            self.ok = False
        self.worst = max(self.worst, value) if math.isfinite(value) else math.inf
        # the same name recorded in a loop keeps its worst value
        prev = self.details.get(name)
        self.details[name] = max(prev, value) if isinstance(prev, float) else value
        return value

    def within(self, name, value, tolerance):
        """A numerical check with its own tolerance (e.g. a paper value quoted to 3 digits)."""
        value = max(float(value), self._within.get(name, -math.inf))   # worst over repeated calls
        self._within[name] = value
        ok = bool(value <= tolerance)
        self.ok &= ok
        self.details[name] = f"{value:.3g} (tolerance {tolerance:.3g}: {'yes' if ok else 'NO'})"
        return ok

    def condition(self, name, ok):
        ok = bool(ok)
        self.ok &= ok
        self.details[name] = ok and self.details.get(name, True) is not False
        return ok

    def note(self, name, value):
        self.details[name] = value if not hasattr(value, "item") else value.item()

    def result(self) -> Verification:
        passed = self.ok and self.worst <= self.tolerance
        return Verification(self.claim, self.cases, self.worst, self.tolerance, passed, dict(self.details),
                            self.statement)
