"""pytest fixtures of the testing kit (registered as a pytest plugin by the
package's ``pytest11`` entry point, so installing the package is enough).

- ``fake_transport``: a :class:`~connect_python.testing.FakeTransport` for
  sync clients, closed after the test (handlers still running are cancelled
  and waited for).
- ``async_fake_transport``: an
  :class:`~connect_python.testing.AsyncFakeTransport` for async clients, in
  tests run by an async pytest plugin (anyio's, with asyncio or trio).

Route methods to handlers, then give the transport to a client::

    def test_list(fake_transport):
        fake_transport.route(PROCESS_LIST, lambda request, ctx: ListResponse())
        with ProcessClient("http://envd", transport=fake_transport) as client:
            assert client.list_(ListRequest()) == ListResponse()
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .testing import AsyncFakeTransport, FakeTransport

__all__ = ["async_fake_transport", "fake_transport"]

# The runtime is imported when a fixture is used, not when pytest loads the
# plugin: a test session that never uses the kit does not import it, and one
# that regenerates or patches the runtime first (as this project's own does)
# sees its result.


@pytest.fixture
def fake_transport() -> Iterator[FakeTransport]:
    """A sync fake transport, closed after the test."""
    from .testing import FakeTransport

    with FakeTransport() as transport:
        yield transport


@pytest.fixture
async def async_fake_transport() -> AsyncIterator[AsyncFakeTransport]:
    """An async fake transport, closed after the test."""
    from .testing import AsyncFakeTransport

    async with AsyncFakeTransport() as transport:
        yield transport
