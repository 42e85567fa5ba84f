"""Errors a user can fix. The CLI prints each as one line naming the thing and the fix, and exits 2.

Kept free of heavy imports, so commands that never train (build-db, query, report) do not load torch.
"""


class UnknownName(KeyError):
    """An unknown task, method, label or config key: the message names it and the valid choices."""

    def __str__(self) -> str:
        return self.args[0]


class DataError(Exception):
    """A dataset problem the user can fix: the message names the file or key and the fix."""


class RunConflict(Exception):
    """The output directory holds a different run."""


class RunFileError(Exception):
    """A run directory's file (run.json, checkpoint.pt) is unreadable: the message names it and the fix."""


class NoSpace(Exception):
    """The disk filled while writing: the message names the directory; the previous file is intact."""
