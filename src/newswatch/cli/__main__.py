"""`python -m newswatch.cli`: the `newswatch` command."""

from newswatch.cli import console_main

console_main()
