"""The one exception type the CLI turns into a single line and exit code 2."""

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]")


def one_line(text: str) -> str:
    """`text` with every control character (newline, carriage return, ...) written as its escape."""
    return _CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


class UserError(Exception):
    """Bad input from the user: a file, a key or a value; the message names it, always on one line."""

    def __init__(self, message: str = "") -> None:
        super().__init__(one_line(str(message)))
