"""The command line's own exit status, apart from the RPC codes (1 to 16) a
failed call exits with. Its own module so that the parser (which exits with it
on bad arguments) and the call (which exits with it on a bad schema or input)
both import it without importing each other."""

from __future__ import annotations

__all__ = ["EXIT_USAGE"]

#: A usage, schema or input problem (sysexits' EX_USAGE): never an RPC code.
EXIT_USAGE = 64
