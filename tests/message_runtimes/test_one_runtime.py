"""Each message runtime works in an environment that lacks the other one.

Two fresh virtual environments (cached in ``.cache/one-runtime/``, rebuilt
when the requirements change; pip installs from its cache or PyPI) hold the
runtime's dependencies and exactly one message library: Google's ``protobuf``
or Buf's ``protobuf-py``. This checkout's ``src`` is put on ``PYTHONPATH``.
In each, a client generated for the test service with the matching
``messages`` option makes calls against connect-go on asyncio (h2c) and sync
(HTTP/1.1), in both codecs, and unpacks an error detail; the other library
must be absent, and stay unimported, throughout.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _support.clean_env import clean_env
from _support.protos import PROTO_DIR
from _support.protos_pb import protoc_gen_py
from generator._helpers import plugin_wrapper

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "one-runtime"
BASE = ["anyio>=4.4", "sniffio>=1.3", "httpcore>=1.0.5,<2", "hpack>=4,<5"]
RUNTIMES = {
    # name: (requirement, the other library's top-level package, plugin options)
    "google": ("protobuf>=5.26", "protobuf", "import_prefix=gen"),
    "protobuf-py": ("protobuf-py>=0.7", "google", "messages=protobuf-py"),
}

CLIENT = textwrap.dedent(
    """
    import importlib.util
    import json
    import sys

    other = sys.argv[3]
    assert importlib.util.find_spec(other) is None, f"{other} is installed"

    import anyio
    from connect_python import ConnectError
    from connect_python.runtime_async import AsyncTransport
    from connect_python.runtime_sync import Transport
    from gen.connectpy.testing.v1 import testing_connect as c
    from gen.connectpy.testing.v1 import __MODULE__ as pb

    url, codec = sys.argv[1], sys.argv[2]


    def fail_request():
        outcome = pb.Outcome(error_code="not_found", error_message="gone", detail_text="why")
        return pb.EchoRequest(outcome=outcome)


    def detail_of(err):
        detail = err.details[0].unpack(pb.EchoResponse)
        return [err.code.value, err.message, detail.payload.decode()]


    async def run_async():
        async with (
            AsyncTransport(h2c=True) as transport,
            c.AsyncTestServiceClient(url, transport=transport, codec=codec, timeout=10) as client,
        ):
            echo = await client.echo(pb.EchoRequest(payload=b"hi"))
            async with client.stream(pb.StreamRequest(count=3, size=2)) as call:
                indexes = [m.index async for m in call]
            try:
                await client.echo(fail_request())
            except ConnectError as err:
                error = detail_of(err)
        return [echo.payload.decode(), echo.http_proto, indexes, error]


    def run_sync():
        with (
            Transport(http2=False) as transport,
            c.TestServiceClient(url, transport=transport, codec=codec, timeout=10) as client,
        ):
            echo = client.echo(pb.EchoRequest(payload=b"hi"))
            with client.stream(pb.StreamRequest(count=3, size=2)) as call:
                indexes = [m.index for m in call]
            try:
                client.echo(fail_request())
            except ConnectError as err:
                error = detail_of(err)
        return [echo.payload.decode(), echo.http_proto, indexes, error]


    result = {"async": anyio.run(run_async), "sync": run_sync()}
    loaded = sorted({m.split(".")[0] for m in sys.modules} & {"google", "protobuf"})
    result["loaded"] = loaded
    print(json.dumps(result))
    """
)


def _venv(name: str) -> Path:
    """A venv with the base dependencies and one message library (cached)."""
    requirements = [*BASE, RUNTIMES[name][0]]
    stamp_text = hashlib.sha256(f"{sys.version}\0{requirements}".encode()).hexdigest()
    where = CACHE / name
    stamp = where / ".requirements"
    if stamp.is_file() and stamp.read_text() == stamp_text:
        return where
    shutil.rmtree(where, ignore_errors=True)
    env = clean_env()
    for cmd in (
        [sys.executable, "-m", "venv", str(where)],
        [str(where / "bin" / "python"), "-m", "pip", "install", "-q", *requirements],
    ):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{cmd}:\n{done.stdout}\n{done.stderr}"
    stamp.write_text(stamp_text)
    return where


def _generate(name: str, root: Path) -> str:
    """The test service's messages and client for ``name`` under ``root/gen``;
    returns the messages module's name."""
    out = root / "gen"
    out.mkdir(parents=True)
    plugin = plugin_wrapper(root)
    options = RUNTIMES[name][2]
    pb = name == "protobuf-py"
    if pb:
        messages = [f"--plugin=protoc-gen-py={protoc_gen_py()}", f"--py_out={out}"]
    else:
        messages = [f"--python_out={out}"]
    args = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{PROTO_DIR}",
        *messages,
        f"--plugin=protoc-gen-connect-python={plugin}",
        f"--connect-python_out={out}",
        f"--connect-python_opt={options}",
        "connectpy/testing/v1/testing.proto",
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for directory in [out, *(d for d in out.rglob("*") if d.is_dir())]:
        (directory / "__init__.py").touch()
    return "testing_pb" if pb else "testing_pb2"


@pytest.mark.parametrize("name", sorted(RUNTIMES))
@pytest.mark.parametrize("codec", ["proto", "json"])
def test_only_one_message_library(
    name: str, codec: str, test_server: object, tmp_path: Path
) -> None:
    venv = _venv(name)
    module = _generate(name, tmp_path)
    env = {**clean_env(), "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT / "src")])}
    other = RUNTIMES[name][1]
    url = test_server.http  # type: ignore[attr-defined]
    done = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-W",
            "error",
            "-c",
            CLIENT.replace("__MODULE__", module),
            url,
            codec,
            other,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    error = ["not_found", "gone", "why"]
    assert result["async"] == ["hi", "HTTP/2.0", [0, 1, 2], error]
    assert result["sync"] == ["hi", "HTTP/1.1", [0, 1, 2], error]
    assert result["loaded"] == [{"google": "google", "protobuf-py": "protobuf"}[name]]
