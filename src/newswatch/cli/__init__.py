"""The `newswatch` command: argument parsing, the commands, and their output.

`commands` holds the parser and the poll, digest, run, match and rematch commands,
`analyst` the query, search and export commands, and `progress` the poll's progress
display. `python -m newswatch.cli` runs the command.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, NoReturn

from newswatch._lazy import exports

if TYPE_CHECKING:
    from newswatch.cli.commands import (
        EXIT_FAILED as EXIT_FAILED,
    )
    from newswatch.cli.commands import (
        EXIT_INTERRUPTED as EXIT_INTERRUPTED,
    )
    from newswatch.cli.commands import (
        EXIT_OK as EXIT_OK,
    )
    from newswatch.cli.commands import (
        EXIT_USAGE as EXIT_USAGE,
    )
    from newswatch.cli.commands import (
        build_parser as build_parser,
    )
    from newswatch.cli.commands import (
        main as main,
    )

_API = {
    "EXIT_FAILED": "commands",
    "EXIT_INTERRUPTED": "commands",
    "EXIT_OK": "commands",
    "EXIT_USAGE": "commands",
    "build_parser": "commands",
    "main": "commands",
}
__all__ = sorted([*_API, "console_main"])
__getattr__, _ = exports(__name__, _API)


def __dir__() -> list[str]:
    return __all__


def console_main() -> NoReturn:
    """The `newswatch` console script (and `python -m newswatch.cli`). A poll of many feeds
    starts its shard processes' fork server first, before this process imports the
    command's modules (~0.1 s of a 1,000-feed poll's start)."""
    from newswatch.orchestrate.shards import warm_up_for_command

    warm_up_for_command(sys.argv[1:])
    from newswatch.cli.commands import console_main as run

    run()
