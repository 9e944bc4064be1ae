"""The root of every error tpdevice raises on purpose."""


class TpDeviceError(Exception):
    """Root of all tpdevice errors; its message is one line a user can read."""
