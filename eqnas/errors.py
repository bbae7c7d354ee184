"""One error family for mistakes a person can fix; the CLI prints it as one line and exits 2."""


class EqnasError(Exception):
    """A user-facing error: the message names the bad value and what would be valid."""
