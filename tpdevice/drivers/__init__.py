"""Device dialects, one package each (codec, link, client), found by tpdevice.transport.registry.

A driver package registers its DriverSpec when imported; nothing outside it names it.
"""
