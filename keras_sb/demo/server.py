"""The demo's server: launch with upload limits and security headers (ASGI middleware), a
private cache removed when the server stops, and the signals that stop it."""

from __future__ import annotations

import contextlib
import ipaddress
import math
import os
import shutil
import signal
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import gradio as gr
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keras_sb.constants import (
    DEFAULT_CACHE_QUOTA_MB,
    DEFAULT_HOST,
    DEFAULT_MAX_UPLOAD_MB,
    DEFAULT_UPLOADS_PER_MINUTE,
)

MB = 1024 * 1024  # Gradio's "mb"
UPLOAD_ROUTE = "/gradio_api/upload"
MULTIPART_OVERHEAD = 64 * 1024  # room for the form's headers around one file of the upload limit
CACHE_PREFIX = "keras-sb-demo-"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Content-Security-Policy": "frame-ancestors 'self'",  # restricts framing only
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}


class SecurityHeaders:
    """ASGI middleware that adds ``SECURITY_HEADERS`` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers if scope["type"] == "http" else send)


def cache_usage(demo: gr.Blocks) -> int:
    """Bytes in the files Gradio keeps for ``demo``: uploads, examples and results."""
    total = 0
    for path in set().union(*demo.temp_file_sets):
        with contextlib.suppress(OSError):  # deleted meanwhile
            total += os.stat(path).st_size
    return total


class UploadLimits:
    """ASGI middleware that refuses an upload (``POST .../gradio_api/upload``) when its client
    has sent ``per_minute`` of them in the last minute (429), when it does not state its size
    (411) or states more than ``max_bytes`` (413), or when ``usage()`` plus the uploads in
    progress and this one would exceed ``quota`` bytes (507).

    A client is an IP address (an IPv6 /64 network): behind a reverse proxy, all clients
    share the proxy's address.
    """

    def __init__(self, app: ASGIApp, *, quota: int, per_minute: int, max_bytes: int,
                 usage: Callable[[], int]) -> None:
        self.app, self.quota, self.per_minute = app, quota, per_minute
        self.max_bytes, self.usage = max_bytes, usage
        self.recent: dict[str, deque[float]] = {}  # client -> its upload times, last minute
        self.in_progress = 0  # declared bytes of the uploads being received

    @staticmethod
    def client(scope: Scope) -> str:
        host = (scope.get("client") or ("",))[0]
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return host
        return str(ipaddress.ip_network(f"{address}/64", strict=False)
                   if address.version == 6 else address)

    def admit(self, client: str) -> float:
        """0 and the upload counted if ``client`` may upload now, else seconds to wait."""
        now = time.monotonic()
        if len(self.recent) > 10_000:  # forget clients quiet for a minute
            self.recent = {key: times for key, times in self.recent.items()
                           if times and times[-1] > now - 60}
        times = self.recent.setdefault(client, deque())
        while times and times[0] <= now - 60:
            times.popleft()
        if len(times) >= self.per_minute:
            return times[0] + 60 - now
        times.append(now)
        return 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] != "POST"
                or not scope["path"].endswith(UPLOAD_ROUTE)):
            await self.app(scope, receive, send)
            return
        size, refusal = await self.check(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        self.in_progress += size  # no await since the quota check
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_progress -= size

    async def check(self, scope: Scope) -> tuple[int, PlainTextResponse | None]:
        """The upload's declared size and the answer refusing it (None if admitted)."""
        wait = self.admit(self.client(scope))
        if wait:
            return 0, PlainTextResponse(
                f"Too many uploads: at most {self.per_minute} a minute from one client; try "
                f"again in {math.ceil(wait)} s.", 429, {"Retry-After": str(math.ceil(wait))})
        length = dict(scope["headers"]).get(b"content-length", b"")
        if not length.isdigit():
            return 0, PlainTextResponse("Uploads must state their size (Content-Length).", 411)
        size = int(length)
        if size > self.max_bytes:
            return 0, PlainTextResponse(f"Upload too large: at most {self.max_bytes} bytes in "
                                        "one request.", 413)
        used = await anyio.to_thread.run_sync(self.usage)
        if used + self.in_progress + size > self.quota:
            return 0, PlainTextResponse(
                f"The upload cache is full ({self.quota / MB:g} MB); try again later.", 507,
                {"Retry-After": "600"})
        return size, None


def serve(demo: gr.Blocks, host: str = DEFAULT_HOST, port: int | None = None,
          max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
          cache_quota_mb: float = DEFAULT_CACHE_QUOTA_MB,
          uploads_per_minute: int = DEFAULT_UPLOADS_PER_MINUTE, **launch_kwargs: Any) -> None:
    """``demo.launch`` on ``host``:``port`` with uploads up to ``max_upload_mb`` (MiB), at
    most ``uploads_per_minute`` from one client, Gradio's cache files for ``demo`` within
    ``cache_quota_mb`` (MiB) (see :class:`UploadLimits`), and ``SECURITY_HEADERS`` on every
    response.

    Server-side rendering stays off: with it, Gradio puts a Node proxy, which this
    middleware does not reach, in front of the Python server.
    """
    max_file_size = math.ceil(max_upload_mb * MB)
    limits = Middleware(UploadLimits, quota=math.ceil(cache_quota_mb * MB),
                        per_minute=uploads_per_minute,
                        max_bytes=max_file_size + MULTIPART_OVERHEAD,
                        usage=lambda: cache_usage(demo))
    demo.launch(server_name=host, server_port=port, max_file_size=max_file_size,
                app_kwargs={"middleware": [Middleware(SecurityHeaders), limits]},
                ssr_mode=False, **launch_kwargs)


@contextlib.contextmanager
def private_cache() -> Iterator[Path]:
    """A new folder (mode 0700) for Gradio's cache inside ``GRADIO_TEMP_DIR`` (default: the
    system's temporary folder), made ``GRADIO_TEMP_DIR`` while inside and deleted, with all
    it holds, on the way out.

    Enter it before :func:`build_demo`, which copies the examples into the cache.
    """
    parent = os.environ.get("GRADIO_TEMP_DIR")
    if parent:
        Path(parent).mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=CACHE_PREFIX, dir=parent))
    os.environ["GRADIO_TEMP_DIR"] = str(path)
    try:
        yield path
    finally:
        if parent:
            os.environ["GRADIO_TEMP_DIR"] = parent
        else:
            del os.environ["GRADIO_TEMP_DIR"]
        shutil.rmtree(path, ignore_errors=True)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def interrupt_on_stop_signals() -> Iterator[None]:
    """SIGTERM and SIGINT raise ``KeyboardInterrupt`` while inside: the server then stops
    (``launch`` returns) and the enclosing ``with`` blocks clean up. SIGINT too, because a
    process started in the background by a shell (``app.py &``) inherits it ignored."""
    previous = {signum: signal.signal(signum, signal.default_int_handler)
                for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
