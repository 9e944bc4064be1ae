"""Device dialects: how messages travel over a transport (native: SLIP frames)."""

from tpdevice.drivers.native import FrameHelper, FrameHelperStats, OnMessage

__all__ = ["FrameHelper", "FrameHelperStats", "OnMessage"]
