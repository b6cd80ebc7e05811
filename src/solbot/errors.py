"""Errors that reach the operator as one line.

`UserError` is raised for anything the person at the keyboard can fix (bad input, a missing file,
an unknown token). The CLI prints its message on one line and exits with code 2; anything else is
a bug and keeps its traceback.
"""


class UserError(Exception):
    """A problem with the operator's input or environment, described in one line."""
