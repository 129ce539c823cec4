"""Our websocket-client connections skip its pure-Python UTF-8 check and stay safe."""

from __future__ import annotations

import base64
import hashlib
import socket
import threading
from typing import Any

import pytest

from tradeactors._websocket import connect

pytestmark = pytest.mark.supervision  # sockets: run under gevent too

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455


def _serve_once(listener: socket.socket, frames: list[bytes], done: threading.Event) -> None:
    """Accept one client, answer its handshake, send ``frames`` as raw text frames."""
    client, _ = listener.accept()
    with client:
        request = b""
        while b"\r\n\r\n" not in request:
            request += client.recv(4096)
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1(key + _GUID.encode()).digest())  # noqa: S324
        client.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        for payload in frames:
            client.sendall(bytes([0x81, len(payload)]) + payload)  # FIN, text, < 126 bytes
        done.wait(10)


@pytest.fixture
def server() -> Any:
    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()
    threads: list[threading.Thread] = []

    def start(frames: list[bytes]) -> str:
        thread = threading.Thread(target=_serve_once, args=(listener, frames, done))
        thread.start()
        threads.append(thread)
        return f"ws://127.0.0.1:{listener.getsockname()[1]}/"

    yield start
    done.set()
    for thread in threads:
        thread.join(10)
    listener.close()


def test_text_frames_arrive_as_str(server):
    connection = connect(server(['{"a": "é"}'.encode()]), timeout=5)
    try:
        assert connection.recv() == '{"a": "é"}'
    finally:
        connection.shutdown()  # no closing handshake: the server does not answer one


def test_a_text_frame_that_is_not_utf8_raises_from_recv(server):
    """What the readers rely on: invalid UTF-8 ends the connection, it is never passed on."""
    connection = connect(server([b'{"a": "\xff\xfe"}', b'{"b": 1}']), timeout=5)
    try:
        with pytest.raises(UnicodeDecodeError):
            connection.recv()
    finally:
        connection.shutdown()  # no closing handshake: the server does not answer one
