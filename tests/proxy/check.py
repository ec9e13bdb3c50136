"""The four techniques through the nginx of docs/deployment.md.

Run by tests/proxy/run.sh with the proxy's port and its certificate. Every
connection goes through nginx over TLS (HTTP/1.1, as a browser's EventSource
or WebSocket would on a proxy without RFC 8441); every read has a timeout,
every loop a bound. Standard library only. Exits non-zero on the first
failed check.
"""

import base64
import hashlib
import json
import os
import socket
import ssl
import sys
import time

PORT = int(sys.argv[1])
CONTEXT = ssl.create_default_context(cafile=sys.argv[2])
TIMEOUT = 5.0


def connect(alpn=("http/1.1",)):
    raw = socket.create_connection(("127.0.0.1", PORT), timeout=TIMEOUT)
    CONTEXT.set_alpn_protocols(list(alpn))
    return CONTEXT.wrap_socket(raw, server_hostname="localhost")


class Reader:
    """Buffered reads from one socket, each bounded by the socket's timeout."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def more(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.buf += data

    def until(self, marker):
        while marker not in self.buf:
            self.more()
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def exact(self, n):
        while len(self.buf) < n:
            self.more()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def head(self):
        lines = self.until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        fields = {}
        for line in lines[1:]:
            if line:
                name, value = line.split(":", 1)
                fields[name.strip().lower()] = value.strip()
        return status, fields

    def response(self):
        """One response: Content-Length or chunked body."""
        status, fields = self.head()
        if "content-length" in fields:
            return status, fields, self.exact(int(fields["content-length"]))
        body = b""
        for _ in range(10000):
            size = int(self.until(b"\r\n").split(b";")[0], 16)
            if size == 0:
                self.until(b"\r\n")
                return status, fields, body
            body += self.exact(size)
            self.exact(2)
        raise AssertionError("too many chunks")


def request(method, path, body=b""):
    with connect() as sock:
        sock.sendall(
            f"{method} {path} HTTP/1.1\r\nHost: localhost\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode() + body
        )
        return Reader(sock).response()


def publish(channel, text):
    status, _, body = request("POST", f"/ch/{channel}", text.encode())
    assert status == 200, (status, body)
    return json.loads(body)["id"]


def check(name, condition, detail=""):
    if not condition:
        print(f"FAIL {name} {detail}")
        sys.exit(1)
    print(f"ok   {name}")


def wait_for_connection(kind, channel):
    """Waits (bounded) until rtweb counts a connection of `kind`."""
    for _ in range(100):
        status, _, body = request("GET", "/stats")
        if status == 200 and json.loads(body)["connections"][kind] >= 1:
            return
        time.sleep(0.05)
    raise AssertionError(f"no {kind} connection for {channel}")


def alpn():
    with connect(("h2", "http/1.1")) as sock:
        check("ALPN selects h2 (HTTP/2 at the proxy)", sock.selected_alpn_protocol() == "h2",
              sock.selected_alpn_protocol())


def short_poll():
    publish("proxy-poll", "polled")
    status, fields, body = request("GET", "/ch/proxy-poll/poll?after=0")
    data = [m["data"] for m in json.loads(body)["messages"]]
    check("short poll sees a published message", status == 200 and data == ["polled"], (status, body))
    check("short poll is not cacheable", fields.get("cache-control") == "no-store", fields)


def long_poll():
    with connect() as sock:
        sock.sendall(b"GET /ch/proxy-lp/longpoll?after=0&timeout=20 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        wait_for_connection("longpoll", "proxy-lp")
        reader = Reader(sock)
        sock.settimeout(0.2)
        try:
            reader.more()
            early = True
        except socket.timeout:
            early = False
        check("long poll waits while nothing is published", not early, reader.buf)
        sock.settimeout(TIMEOUT)
        publish("proxy-lp", "woken")
        status, _, body = reader.response()
        data = [m["data"] for m in json.loads(body)["messages"]]
        check("parked long poll is answered by the publish", status == 200 and data == ["woken"], (status, body))


def event_stream():
    with connect() as sock:
        sock.sendall(b"GET /ch/proxy-sse/sse HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n")
        reader = Reader(sock)
        status, fields = reader.head()
        check("SSE answers 200 text/event-stream",
              status == 200 and fields.get("content-type") == "text/event-stream", (status, fields))
        # The opening retry: arrives before any event: the stream is flowing.
        reader.until(b"retry: ")
        wait_for_connection("sse", "proxy-sse")
        published = time.monotonic()
        publish("proxy-sse", "streamed")
        reader.until(b"data: streamed\n")
        delay = time.monotonic() - published
        check(f"SSE event crosses the proxy at once ({delay * 1000:.0f} ms)", delay < 1.0, delay)


def websocket():
    key = base64.b64encode(os.urandom(16)).decode()
    with connect() as sock:
        sock.sendall(
            f"GET /ch/proxy-ws/ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        reader = Reader(sock)
        status, fields = reader.head()
        accept = base64.b64encode(
            hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
        ).decode()
        check("WebSocket upgrades through the proxy (101)",
              status == 101 and fields.get("sec-websocket-accept") == accept, (status, fields))

        def frame():
            first, second = reader.exact(2)
            length = second & 0x7F
            if length == 126:
                length = int.from_bytes(reader.exact(2), "big")
            elif length == 127:
                length = int.from_bytes(reader.exact(8), "big")
            return first, reader.exact(length)

        # The stream opens with {"ready":true,"last_id":N}: the
        # subscription is in place before anything is published.
        first, payload = frame()
        check("WebSocket opens with its ready frame",
              first == 0x81 and json.loads(payload).get("ready") is True, (first, payload))
        publish("proxy-ws", "framed")
        first, payload = frame()
        check("WebSocket receives a publish as a text frame",
              first == 0x81 and json.loads(payload)["data"] == "framed", (first, payload))

        text, mask = b"from the socket", os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(text))
        sock.sendall(bytes([0x81, 0x80 | len(text)]) + mask + masked)
        first, payload = frame()
        check("WebSocket publishes (its message comes back)",
              first == 0x81 and json.loads(payload)["data"] == text.decode(), payload)
        status, _, body = request("GET", "/ch/proxy-ws/poll?after=0")
        data = [m["data"] for m in json.loads(body)["messages"]]
        check("the WebSocket's message is in the channel", data == ["framed", text.decode()], body)


for step in (alpn, short_poll, long_poll, event_stream, websocket):
    try:
        step()
    except (OSError, EOFError, ValueError, KeyError, AssertionError) as error:
        # A timeout is the usual way a proxy misconfiguration shows:
        # a buffered event or a swallowed upgrade never arrives.
        check(step.__name__, False, f"{type(error).__name__}: {error}")
print("all checks passed")
