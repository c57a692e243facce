"""The two kinds of failure of an evaluation, which the command line maps to exit codes.

* :class:`UsageError` (exit 2): the call itself is wrong: an unknown metric, a bad option,
  a folder that does not exist or holds no label maps.
* :class:`DataError` (exit 1): a file is wrong: unreadable, not a label map, a missing
  prediction, a shape or spacing mismatch, labels outside ``labels``.  It carries every
  :class:`Problem` found, so one run names every bad file instead of the first.
"""
from __future__ import annotations

from dataclasses import dataclass


class UsageError(ValueError):
    """A bad argument or option (exit status 2)."""


@dataclass(frozen=True)
class Problem:
    """One bad case: its id, the file(s) concerned and what is wrong."""
    case: str
    files: tuple
    message: str

    def __str__(self):
        return f"{', '.join(map(str, self.files))}: {self.message}"


class DataError(ValueError):
    """One or more bad input files (exit status 1); ``problems`` lists them all."""

    def __init__(self, problems):
        self.problems = tuple(problems)
        lines = "\n  ".join(str(p) for p in self.problems)
        super().__init__(f"{len(self.problems)} case(s) could not be evaluated:\n  {lines}")


class FileProblem(Exception):
    """Raised inside the per-case work for one file; turned into a :class:`Problem`."""

    def __init__(self, path, message):
        self.path, self.message = path, message
        super().__init__(f"{path}: {message}")
