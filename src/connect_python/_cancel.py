"""``CancelToken``: cancel calls from outside them (another thread, or another task)."""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["CancelToken"]


class CancelToken:
    """Cancels every call it is given to (``cancel=token``): those calls raise
    ``ConnectError(CANCELED)`` (a call started after :meth:`cancel` fails at once).

    With the sync client, :meth:`cancel` may be called from any thread and
    interrupts a call blocked on the network. With the async client, call it
    from the event loop's thread (cancelling a task or a cancel scope is the
    usual way there; the token is for when the caller should see ``CANCELED``).
    Streaming calls also have their own ``call.cancel()``.
    """

    __slots__ = ("_cancelled", "_lock", "_scopes")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scopes: set[Any] = set()
        self._cancelled = False

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._cancelled

    def cancel(self) -> None:
        """Cancel the calls in progress and any later one given this token."""
        with self._lock:
            self._cancelled = True
            scopes = list(self._scopes)
        for scope in scopes:
            scope.cancel()

    def attach(self, scope: Any) -> None:
        """Register a call's scope (used by the runtime)."""
        with self._lock:
            if not self._cancelled:
                self._scopes.add(scope)
                return
        scope.cancel()

    def detach(self, scope: Any) -> None:
        """Forget a call's scope once the call is over (used by the runtime)."""
        with self._lock:
            self._scopes.discard(scope)
