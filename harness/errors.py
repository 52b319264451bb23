"""Errors a user can cause: the CLI prints them as one line and exits non-zero."""


class UserError(Exception):
    """Bad input or an unusable environment (unknown name, bad spec, locked database)."""


class SpecError(UserError):
    """A sweep spec that cannot run: the key at fault (dotted, e.g. `prune.nnz`; empty
    when the file itself is malformed), its line in the file (None when unknown) and
    why. The TUI maps `key` to a form field; the CLI prints the one-line message."""

    def __init__(self, key: str, line: int | None, reason: str, source: str = "spec") -> None:
        self.key, self.line, self.reason, self.source = key, line, reason, source
        where = f" (line {line})" if line is not None else ""
        super().__init__(f"{source}: {key}{where}: {reason}" if key else f"{source}: {reason}")
