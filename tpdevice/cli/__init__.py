"""tpdevice.cli layer."""
