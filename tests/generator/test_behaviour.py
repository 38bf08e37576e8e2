"""The generated modules, imported: their API matches the runtime and the protos.

The default variant (and the decorator variant) is imported in this process
from the session's generated tree; no server is needed here (the calls against
the Go test server are in ``tests/generator_e2e``).
"""

from __future__ import annotations

import importlib
import inspect
import sys
import warnings
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest

from connect_python import IdempotencyLevel, StreamType
from connect_python.runtime_async import AsyncConnectClient, AsyncServiceClient
from connect_python.runtime_sync import ConnectClient, ServiceClient

from .conftest import Generated

_TOP_LEVEL = (
    "greet",
    "common",
    "naming",
    "layout",
    "legacy",
    "no_package_connect",
    "no_package_pb2",
    "order",
)


@pytest.fixture
def load(generate: Callable[[str], Generated]) -> Iterator[Callable[[str, str], ModuleType]]:
    """``load(variant, module)`` imports a generated module; everything is unloaded after."""
    added: list[str] = []

    def _load(variant: str, module: str) -> ModuleType:
        gen = generate(variant)
        assert gen.process.returncode == 0, gen.process.stderr
        for name in _TOP_LEVEL:
            assert name not in sys.modules or sys.path[0] in added[:1], f"{name} already imported"
        if str(gen.root) not in sys.path:
            sys.path.insert(0, str(gen.root))
            added.append(str(gen.root))
        importlib.invalidate_caches()
        return importlib.import_module(module)

    yield _load
    for entry in added:
        sys.path.remove(entry)
    for name in list(sys.modules):
        if name.split(".")[0] in _TOP_LEVEL:
            del sys.modules[name]


def _params(func: Callable[..., object]) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(func).parameters.values()]


def test_clients_subclass_the_runtime_base(load: Callable[[str, str], ModuleType]) -> None:
    mod = load("default", "greet.v1.greet_connect")
    for generated, base, runtime in (
        (mod.AsyncGreetServiceClient, AsyncServiceClient, AsyncConnectClient),
        (mod.GreetServiceClient, ServiceClient, ConnectClient),
    ):
        # Constructor, closing and context manager come from the runtime, once.
        assert generated.__bases__ == (base,)
        shared = {"__init__", "aclose", "close", "__aenter__", "__aexit__", "__enter__"}
        assert not shared & set(vars(generated))
        # The base takes the runtime client's arguments: names, kinds and defaults.
        assert _params(generated.__init__) == _params(runtime.__init__)
    # The documented default receive limit (README: ``read_max_bytes``, 4 MiB).
    assert (
        inspect.signature(mod.AsyncGreetServiceClient).parameters["read_max_bytes"].default
        == inspect.signature(AsyncConnectClient).parameters["read_max_bytes"].default
        == 4 * 1024 * 1024
    )


def test_method_constants(load: Callable[[str, str], ModuleType]) -> None:
    mod = load("default", "greet.v1.greet_connect")
    from greet.v1 import greet_pb2, messages_pb2

    assert mod.GREET_SERVICE_NAME == "greet.v1.GreetService"
    say = mod.GREET_SERVICE_SAY
    assert (say.path, say.input, say.output) == (
        "/greet.v1.GreetService/Say",
        messages_pb2.SayRequest,
        messages_pb2.SayResponse,
    )
    assert say.stream_type is StreamType.UNARY
    assert mod.GREET_SERVICE_LOOKUP.idempotency_level is IdempotencyLevel.NO_SIDE_EFFECTS
    assert mod.GREET_SERVICE_TOUCH.idempotency_level is IdempotencyLevel.IDEMPOTENT
    assert mod.GREET_SERVICE_COUNT.stream_type is StreamType.SERVER_STREAM
    assert mod.GREET_SERVICE_COLLECT.stream_type is StreamType.CLIENT_STREAM
    converse = mod.GREET_SERVICE_CONVERSE
    assert converse.stream_type is StreamType.BIDI_STREAM
    assert converse.output is greet_pb2.Outer.Inner.Deeper
    assert mod.EMPTY_SERVICE_NAME == "greet.v1.EmptyService"
    assert set(mod.__all__) <= set(vars(mod))


def test_async_and_sync_clients_have_the_same_methods(
    load: Callable[[str, str], ModuleType],
) -> None:
    mod = load("default", "greet.v1.greet_connect")
    a, s = mod.AsyncGreetServiceClient, mod.GreetServiceClient
    rpc = ["say", "lookup", "touch", "count", "collect", "converse", "no_comment", "old_say"]
    for name in rpc:
        assert _params(getattr(a, name)) == _params(getattr(s, name)), name
        assert getattr(a, name).__doc__ == getattr(s, name).__doc__
    assert inspect.iscoroutinefunction(a.say) and not inspect.iscoroutinefunction(s.say)
    assert not inspect.iscoroutinefunction(a.count)  # returns a call object
    assert inspect.iscoroutinefunction(a.collect)
    assert not inspect.iscoroutinefunction(a.converse)
    # Keyword-only options; use_get only where GET is allowed.
    say = inspect.signature(a.say).parameters
    assert [n for n, p in say.items() if p.kind is p.KEYWORD_ONLY] == [
        "headers",
        "timeout",
        "send_compression",
        "cancel",
        "open_timeout",
        "idle_timeout",
        "metadata",
    ]
    assert "use_get" in inspect.signature(a.lookup).parameters
    assert "use_get" not in inspect.signature(a.touch).parameters
    assert inspect.signature(a.converse).parameters["requests"].default is None
    assert a.say.__doc__.startswith("Say hello. The reply repeats the name.")
    assert a.__doc__.startswith("Greets people.")
    assert 'a backslash \\ and\n    triple quotes """ that' in a.__doc__
    assert hasattr(a, "aclose") and hasattr(s, "close") and not hasattr(s, "aclose")


def test_transform_leaves_message_names_and_comments_alone(
    load: Callable[[str, str], ModuleType],
) -> None:
    mod = load("default", "naming.v1.naming_connect")
    sync = mod.NamesClient
    hints = inspect.get_annotations(sync.transform)
    assert (hints["request"], hints["return"]) == ("naming_pb2.AsyncThing", "naming_pb2.aclose")
    assert "await, async def and AsyncThing" in sync.__doc__
    assert {"class_", "list_", "close_", "aclose_", "runtime_async_"} <= set(vars(sync))


async def test_deprecated_async(load: Callable[[str, str], ModuleType]) -> None:
    mod = load("default", "greet.v1.greet_connect")
    with pytest.warns(DeprecationWarning, match=r"^greet\.v1\.LegacyGreetService is deprecated$"):
        client = mod.AsyncLegacyGreetServiceClient("http://127.0.0.1:1")
    async with client:
        pass
    async with mod.AsyncGreetServiceClient("http://127.0.0.1:1") as greet:
        with pytest.warns(
            DeprecationWarning, match="/greet.v1.GreetService/OldCount is deprecated"
        ):
            call = greet.old_count(mod.greet_pb2.CountRequest())  # nothing sent yet
        await call.aclose()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            call = greet.count(mod.greet_pb2.CountRequest())  # not deprecated: no warning
        await call.aclose()


def test_deprecated_sync(load: Callable[[str, str], ModuleType]) -> None:
    mod = load("default", "greet.v1.greet_connect")
    with (
        pytest.warns(DeprecationWarning, match="LegacyGreetService is deprecated") as record,
        mod.LegacyGreetServiceClient("http://127.0.0.1:1"),
    ):
        pass
    assert record[0].filename == __file__  # stacklevel points at the caller


def test_deprecated_decorator_variant(load: Callable[[str, str], ModuleType]) -> None:
    mod = load("decorator", "greet.v1.greet_connect")
    with (
        pytest.warns(DeprecationWarning, match="greet.v1.LegacyGreetService is deprecated"),
        mod.LegacyGreetServiceClient("http://127.0.0.1:1"),
    ):
        pass
    with mod.GreetServiceClient("http://127.0.0.1:1") as greet:
        with pytest.warns(
            DeprecationWarning, match="/greet.v1.GreetService/OldCount is deprecated"
        ):
            call = greet.old_count(mod.greet_pb2.CountRequest())
        call.close()
    assert getattr(mod.GreetServiceClient.old_count, "__deprecated__", None) == (
        "/greet.v1.GreetService/OldCount is deprecated"
    )
