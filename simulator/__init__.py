"""The gun firmware, emulated: protocol handler, physics, faults, link servers."""
