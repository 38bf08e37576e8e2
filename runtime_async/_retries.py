"""The wait between two tries of a call (``connect_python._retry``: which
failures are retried)."""

from __future__ import annotations

from connect_python._cancel import CancelToken
from connect_python._io.shim_async import CallScope, current_time, sleep
from connect_python._retry import RetryPolicy

__all__ = ["wait_to_retry"]


async def wait_to_retry(
    policy: RetryPolicy | None,
    attempt: int,
    deadline: float | None,
    at_least: float = 0.0,
    cancel: CancelToken | None = None,
) -> bool:
    """Wait before try ``attempt + 1`` (backoff with jitter, at least
    ``at_least`` seconds); ``False`` at once when no try is left or the
    call's deadline (or timer) would pass first: the call then fails with the
    last error. Inside a step of the call's scope the wait ends with the
    call's cancellation; outside one (between two exchanges of a call)
    ``cancel``, the call's token, ends it: ``CANCELED`` either way."""
    if policy is None or attempt >= policy.attempts:
        return False
    delay = max(policy.backoff(attempt), at_least)
    if deadline is not None and current_time() + delay >= deadline:
        return False
    if delay > 0:
        if cancel is None:
            await sleep(delay)
            return True
        scope = CallScope(deadline)
        cancel.attach(scope)
        try:
            with scope.step():
                await sleep(delay)
        finally:
            cancel.detach(scope)
            scope.close()
    return True
