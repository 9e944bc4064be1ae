"""Errors the CLI reports as one line."""

from tpdevice.errors import TpDeviceError


class CliError(TpDeviceError):
    """Bad command-line input, reported as one line with a usage exit code."""

    exit_code = 2
