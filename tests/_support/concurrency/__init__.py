"""The testing hook for concurrency: the one place tests reach the runtime's
private concurrency pair (``connect_python._io.shim_async`` / ``shim_sync``).

Tests that run in both flavours need a few primitives whose meaning is the
same on an event loop and on threads, and which the public API has no reason
to offer: :class:`Background` (run a function while the caller does something
else: a task, or a daemon thread), :func:`sleep`, :class:`Event` (the sync one's
``wait()`` ends at the current call's deadline or cancellation),
:func:`current_time`, :class:`Lock` and :class:`CallScope` (the scope an
exchange-level test hands to ``transport.open_exchange``).

An async test imports them from the async module::

    from _support.concurrency.shim_async import Background, sleep

and its sync twin (``tests/twins.py``, the unasync transform) gets
``from _support.concurrency.shim_sync import Background, sleep``: the transform
renames ``shim_async`` to ``shim_sync``, as it does in the runtime. The two
modules re-export the same names (``tests/unit/test_testing_hook.py`` checks
it); nothing else under ``tests/`` or ``benchmarks/`` imports a private module
of the I/O room.
"""
