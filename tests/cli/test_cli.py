"""The command-line caller (``python -m connect_python call``) against the
connect-go test server, run as a user runs it: a separate process, JSON in,
JSON lines out, the exit status from the error's code."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from _support import ServerInfo

ROOT = Path(__file__).resolve().parents[2]
PROTO_ROOT = ROOT / "tests" / "proto"
PROTO = PROTO_ROOT / "connectpy" / "testing" / "v1" / "testing.proto"
SCHEMA = ["--proto", str(PROTO), "-I", str(PROTO_ROOT)]
SERVICE = "connectpy.testing.v1.TestService"
COMMAND = [sys.executable, "-m", "connect_python", "call"]

pytestmark = pytest.mark.network


def cli(
    *args: str, input: str | None = None, stderr: int = subprocess.PIPE
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args],
        input=input,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        timeout=60,
        check=False,
    )


def lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def test_unary_with_headers(test_server: ServerInfo) -> None:
    result = cli(
        test_server.http,
        f"{SERVICE}/Echo",
        *SCHEMA,
        "-d",
        '{"payload": "aGk="}',
        "-H",
        "x-who: cli",
        "--timeout",
        "10",
    )
    assert result.returncode == 0, result.stderr
    (response,) = lines(result.stdout)
    assert response["payload"] == "aGk="
    seen = response["requestHeaders"]
    assert isinstance(seen, list)
    assert "x-who: cli" in seen
    assert any(str(h).startswith("connect-timeout-ms: ") for h in seen)
    assert result.stderr == ""


def test_server_stream_prints_messages_as_they_arrive(test_server: ServerInfo) -> None:
    request = {"count": 3, "size": 2, "outcome": {"delayMs": 300}}
    with subprocess.Popen(
        [
            *COMMAND,
            "--h2c",
            test_server.http,
            f"{SERVICE}/Stream",
            *SCHEMA,
            "-d",
            json.dumps(request),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        # The first message is out while the server is still streaming.
        assert proc.poll() is None
        rest = lines(proc.stdout.read())
        assert proc.wait(timeout=30) == 0
    assert [first, *rest] == [
        {"payload": "AAE="},
        {"index": "1", "payload": "AAE="},
        {"index": "2", "payload": "AAE="},
    ]


def test_client_stream_from_stdin(test_server: ServerInfo) -> None:
    stdin = '{"chunk": "YQ=="}\n\n{"chunk": "YmI="}\n{"chunk": ""}\n'
    result = cli(test_server.http, f"{SERVICE}/Upload", *SCHEMA, input=stdin)
    assert result.returncode == 0, result.stderr
    assert lines(result.stdout) == [{"messages": "3", "bytes": "3"}]


def test_bidi_over_grpc_from_a_descriptor_set(test_server: ServerInfo, tmp_path: Path) -> None:
    from grpc_tools import protoc  # type: ignore[import-untyped]

    schema = tmp_path / "schema.binpb"
    args = [f"-I{PROTO_ROOT}", f"--descriptor_set_out={schema}", "--include_imports", str(PROTO)]
    assert protoc.main(["protoc", *args]) == 0
    result = cli(
        "--http2",
        "--protocol",
        "grpc",
        test_server.http,
        f"{SERVICE}/Chat",
        "--schema",
        str(schema),
        "-d",
        '{"text": "a"}\n{"text": "b"}',
    )
    assert result.returncode == 0, result.stderr
    assert lines(result.stdout) == [{"text": "a"}, {"text": "b", "index": "1"}]


def test_error_exit_status_and_report(test_server: ServerInfo) -> None:
    outcome = {"errorCode": "not_found", "errorMessage": "no such thing", "detailText": "d"}
    result = cli(
        test_server.http, f"{SERVICE}/Echo", *SCHEMA, "-d", json.dumps({"outcome": outcome})
    )
    assert result.returncode == 5  # not_found
    assert result.stdout == ""
    report = json.loads(result.stderr)
    assert report["code"] == "not_found"
    assert report["message"] == "no such thing"
    assert report["http_status"] == 404
    assert [d["type"] for d in report["details"]] == ["connectpy.testing.v1.EchoResponse"]


def test_deadline_exit_status(test_server: ServerInfo) -> None:
    request = {"outcome": {"delayMs": 5000}}
    result = cli(
        test_server.http,
        f"{SERVICE}/Echo",
        *SCHEMA,
        "-d",
        json.dumps(request),
        "--timeout",
        "0.2",
    )
    assert result.returncode == 4, result.stderr  # deadline_exceeded
    assert json.loads(result.stderr)["code"] == "deadline_exceeded"


def test_usage_and_schema_problems_are_64(test_server: ServerInfo) -> None:
    unknown = cli(test_server.http, f"{SERVICE}/Nope", *SCHEMA)
    assert unknown.returncode == 64
    assert "has no method 'Nope'" in unknown.stderr
    bad_json = cli(test_server.http, f"{SERVICE}/Echo", *SCHEMA, "-d", '{"nope": 1}')
    assert bad_json.returncode == 64
    assert "not a connectpy.testing.v1.EchoRequest" in bad_json.stderr
    no_schema = cli(test_server.http, f"{SERVICE}/Echo")
    assert no_schema.returncode == 64
    assert "no schema" in no_schema.stderr


def test_progress_line_when_stderr_is_a_terminal(test_server: ServerInfo) -> None:
    request = {"count": 4, "size": 1, "outcome": {"delayMs": 150}}
    controller, terminal = pty.openpty()
    try:
        result = cli(
            test_server.http,
            f"{SERVICE}/Stream",
            *SCHEMA,
            "-d",
            json.dumps(request),
            stderr=terminal,
        )
        os.close(terminal)
        terminal = -1
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal's other end is closed: all read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        if terminal != -1:
            os.close(terminal)
        os.close(controller)
    assert result.returncode == 0
    assert len(lines(result.stdout)) == 4
    text = shown.decode()
    assert "messages, " in text and " msg/s, " in text
    assert text.endswith("\r\x1b[K")  # cleared at the end
