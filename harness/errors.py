"""Errors a user can cause: the CLI prints them as one line and exits non-zero."""


class UserError(Exception):
    """Bad input or an unusable environment (unknown name, bad spec, locked database)."""
