"""`python -m tpdevice` runs the CLI."""

from tpdevice.cli.app import main

main()
