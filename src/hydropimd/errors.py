"""The one exception type users see.

Every problem caused by input (a missing file, a bad number, atoms too close)
is raised as :class:`InputError` with a one-line message that names the problem
and, where there is one, the fix.  The command-line layer prints that line and
exits non-zero without a traceback; Python callers can catch it.
"""


class InputError(ValueError):
    """Bad input: the message is one line, names the problem and the fix."""
