"""portal-agent: the device agent of the remote service (SPEC R3, docs/remote.md)."""

__version__ = "0.1.0"
