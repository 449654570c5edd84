"""How the benchmarks end: bad input as one ``error: ...`` line with status 2, no traceback.

Each benchmark ends with::

    if __name__ == "__main__":
        from _cli import run_main

        run_main(main)

(``python benchmarks/bench_x.py`` puts this folder first on ``sys.path``.) Errors caused by
the input (:class:`galmorph.GalmorphError`, a file that cannot be read) print one line,
as ``galmorph`` does; any other error keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn

from galmorph.exceptions import GalmorphError, user_message

#: exit status of bad input, as ``galmorph`` and argparse use it
INPUT_ERROR = 2


def error_line(err: BaseException) -> str | None:
    """The one-line message of an input error; None for an error that keeps its traceback."""
    if isinstance(err, GalmorphError):
        return user_message(err)
    if isinstance(err, OSError) and err.filename is not None:
        from galmorph.cli import file_error

        return file_error(err)
    return None


def run_main(main: Callable[[], object]) -> NoReturn:
    """Run ``main()`` and exit: its status if it returns an int (else 0), 2 on bad input."""
    try:
        status = main()
    except (GalmorphError, OSError) as err:
        message = error_line(err)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        sys.exit(INPUT_ERROR)
    sys.exit(status if isinstance(status, int) else 0)
