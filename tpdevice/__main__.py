"""`python -m tpdevice` runs the CLI."""

from tpdevice.cli.entry import main

main()
