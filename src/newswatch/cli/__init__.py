"""The `newswatch` command: argument parsing, the commands, and their output.

`commands` holds the parser and the poll, digest, run, match and rematch commands,
`analyst` the query, search and export commands, and `progress` the poll's progress
display. `python -m newswatch.cli` runs the command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
        console_main as console_main,
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
    "console_main": "commands",
    "main": "commands",
}
__all__ = sorted(_API)
__getattr__, __dir__ = exports(__name__, _API)
