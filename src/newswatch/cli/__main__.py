"""`python -m newswatch.cli`: the `newswatch` command."""

from newswatch.cli.commands import console_main

console_main()
