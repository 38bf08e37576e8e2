"""A testing kit for code that uses generated clients: calls answered
in-process by handler functions, with no socket and no server to start.

``AsyncFakeTransport`` (asyncio and trio) and ``FakeTransport`` (sync) are
given to a client as its ``transport=``; handlers receive a
:class:`HandlerContext`. The pytest plugin (``connect_python._pytest_plugin``,
loaded automatically once the package is installed) provides the
``fake_transport`` and ``async_fake_transport`` fixtures.
"""

from __future__ import annotations

from ..protocol.connect_server import HandlerContext
from ..runtime_async._fake_transport import AsyncFakeTransport
from ..runtime_sync._fake_transport import FakeTransport

__all__ = ["AsyncFakeTransport", "FakeTransport", "HandlerContext"]
