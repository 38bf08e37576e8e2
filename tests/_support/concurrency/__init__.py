"""The testing hook: the one place tests reach the I/O room's private pairs
(``connect_python._io``: the concurrency pair ``shim_async`` / ``shim_sync`` and
the network pair ``async_net`` / ``sync_net``).

Tests that run in both flavours need a few primitives whose meaning is the
same on an event loop and on threads, and which the public API has no reason
to offer: :class:`Background` (run a function while the caller does something
else: a task, or a daemon thread), :func:`sleep`, :class:`Event` (the sync one's
``wait()`` ends at the current call's deadline or cancellation),
:func:`current_time`, :class:`Lock`, :class:`CallScope` (the scope an
exchange-level test hands to ``transport.open_exchange``) and the network
backend (``AnyIOBackend``, whose sync twin is ``SyncBackend``: a raw
connection for tests of the waits themselves).

An async test imports them from the async module::

    from _support.concurrency.shim_async import Background, sleep

and its sync twin (``tests/twins.py``, the unasync transform) gets
``from _support.concurrency.shim_sync import Background, sleep``: the transform
renames ``shim_async`` to ``shim_sync`` (and ``AnyIOBackend`` to
``SyncBackend``), as it does in the runtime. A sync-only test imports the sync
half directly. The sync half is exactly the transform of the async half, and
nothing else under ``tests/`` or ``benchmarks/`` imports a private module of
the I/O room (``tests/unit/test_testing_hook.py`` checks both).
"""
