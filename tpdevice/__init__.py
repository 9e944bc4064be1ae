"""tpdevice: drive percussive massage guns for trigger-point therapy."""

__version__ = "0.1.0"
