"""The one exception type for errors a user can cause (bad paths, options, files)."""


class BenchmarkError(Exception):
    """An error in the user's input; the CLI prints its message on one line and exits non-zero.

    Bugs in the harness are not BenchmarkErrors: they stay ordinary tracebacks.
    """
