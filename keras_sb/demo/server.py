"""The demo's server: launch with per-client upload and request limits and security headers
(ASGI middleware), a private cache removed when the server stops, and the signals that stop
it."""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import math
import os
import re
import shutil
import signal
import socket
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import gradio as gr
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keras_sb.constants import (
    DEFAULT_CACHE_QUOTA_MB,
    DEFAULT_HOST,
    DEFAULT_MAX_UPLOAD_MB,
    DEFAULT_REQUESTS_PER_MINUTE,
    DEFAULT_UPLOADS_PER_MINUTE,
)

MB = 1024 * 1024  # Gradio's "mb"
UPLOAD_ROUTE = "/gradio_api/upload"
# The POST routes that run the page's functions (or Gradio's ffmpeg, for process_recording).
CALL_ROUTES = re.compile(r"/gradio_api/(queue/join|(call|call/v2|run|api)/[^/]+|"
                         r"process_recording)/?$")
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


def client(scope: Scope) -> str:
    """The client of a request: its IP address (an IPv6 /64 network). That is the socket's
    peer, or the address in ``X-Forwarded-For`` when the peer is a proxy :func:`serve` was told
    to trust."""
    host = (scope.get("client") or ("",))[0]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    return str(ipaddress.ip_network(f"{address}/64", strict=False)
               if address.version == 6 else address)


class ClientRate:
    """At most ``per_minute`` requests from one client (see :func:`client`) in any minute."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.recent: dict[str, deque[float]] = {}  # client -> its request times, last minute

    def admit(self, scope: Scope) -> float:
        """0 and the request counted if its client may make it now, else seconds to wait."""
        now = time.monotonic()
        if len(self.recent) > 10_000:  # forget clients quiet for a minute
            self.recent = {key: times for key, times in self.recent.items()
                           if times and times[-1] > now - 60}
        times = self.recent.setdefault(client(scope), deque())
        while times and times[0] <= now - 60:
            times.popleft()
        if len(times) >= self.per_minute:
            return times[0] + 60 - now
        times.append(now)
        return 0.0

    def refusal(self, what: str, wait: float) -> tuple[str, dict[str, str]]:
        """The message and headers of a 429 answer to a request ``wait`` seconds too early."""
        seconds = math.ceil(wait)
        return (f"Too many {what}: at most {self.per_minute} a minute from one client; try "
                f"again in {seconds} s.", {"Retry-After": str(seconds)})


class UploadLimits:
    """ASGI middleware that refuses an upload (``POST .../gradio_api/upload``) when its client
    has sent ``per_minute`` of them in the last minute (429), when it does not state its size
    (411) or states more than ``max_bytes`` (413), or when ``usage()`` plus the uploads in
    progress and this one would exceed ``quota`` bytes (507).
    """

    def __init__(self, app: ASGIApp, *, quota: int, per_minute: int, max_bytes: int,
                 usage: Callable[[], int]) -> None:
        self.app, self.quota, self.rate = app, quota, ClientRate(per_minute)
        self.max_bytes, self.usage = max_bytes, usage
        self.in_progress = 0  # declared bytes of the uploads being received

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
        wait = self.rate.admit(scope)
        if wait:
            message, headers = self.rate.refusal("uploads", wait)
            return 0, PlainTextResponse(message, 429, headers)
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


class CallLimits:
    """ASGI middleware that refuses (429) a request running one of the page's functions
    (``/classify``: ``POST .../gradio_api/queue/join``, ``call/``, ``run/``, ``api/``, and
    Gradio's ``process_recording``) when its client has made ``per_minute`` of them in the
    last minute. The answer is JSON with a ``detail``, which Gradio's page shows."""

    def __init__(self, app: ASGIApp, *, per_minute: int) -> None:
        self.app, self.rate = app, ClientRate(per_minute)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["method"] == "POST"
                and CALL_ROUTES.search(scope["path"])):
            wait = self.rate.admit(scope)
            if wait:
                message, headers = self.rate.refusal("requests", wait)
                await JSONResponse({"detail": message}, 429, headers)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class StartError(Exception):
    """The server cannot start (a port in use, a cache folder that cannot be made); the
    message says why and what to do."""


@contextlib.contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    """``os.environ[name]`` is ``value`` while inside."""
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            del os.environ[name]
        else:
            os.environ[name] = previous


def check_port(host: str, port: int) -> None:
    """Raise ``StartError`` unless this process may listen on ``host``:``port`` now."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(host.strip("[]"), port,
                                                         type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as error:
        raise StartError(f"cannot serve on {host}:{port}: {error.strerror or error}; choose "
                         "another --port (or --host), or stop the server using it") from None


def serve(demo: gr.Blocks, host: str = DEFAULT_HOST, port: int | None = None,
          max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
          cache_quota_mb: float = DEFAULT_CACHE_QUOTA_MB,
          uploads_per_minute: int = DEFAULT_UPLOADS_PER_MINUTE,
          requests_per_minute: int = DEFAULT_REQUESTS_PER_MINUTE,
          trusted_proxies: Sequence[str] = (), *, prevent_thread_lock: bool = False,
          quiet: bool = False, **launch_kwargs: Any) -> None:
    """``demo.launch`` on ``host``:``port`` with uploads up to ``max_upload_mb`` (MiB), at
    most ``uploads_per_minute`` from one client, Gradio's cache files for ``demo`` within
    ``cache_quota_mb`` (MiB) (see :class:`UploadLimits`), at most ``requests_per_minute``
    calls of the page's functions from one client (:class:`CallLimits`), and
    ``SECURITY_HEADERS`` on every response; blocks until the server stops unless
    ``prevent_thread_lock``.

    A client is the socket's peer address; ``X-Forwarded-For`` names it only in requests
    from ``trusted_proxies`` (IP addresses or networks, e.g. ``10.0.0.0/8``). Gradio's
    start-up lines are replaced by one naming the address (none if ``quiet``); its hint to
    ``set share=True`` does not apply to a served demo.

    Server-side rendering stays off: with it, Gradio puts a Node proxy, which this
    middleware does not reach, in front of the Python server.
    """
    if port is not None:
        check_port(host, port)
    max_file_size = math.ceil(max_upload_mb * MB)
    limits = [Middleware(SecurityHeaders),
              Middleware(UploadLimits, quota=math.ceil(cache_quota_mb * MB),
                         per_minute=uploads_per_minute,
                         max_bytes=max_file_size + MULTIPART_OVERHEAD,
                         usage=lambda: cache_usage(demo)),
              Middleware(CallLimits, per_minute=requests_per_minute)]
    # Uvicorn rewrites the client from X-Forwarded-For for the peers this names (its default:
    # 127.0.0.1 and ::1); it reads the variable when Gradio creates the server.
    with _environment("FORWARDED_ALLOW_IPS", ",".join(trusted_proxies)):
        demo.launch(server_name=host, server_port=port, max_file_size=max_file_size,
                    app_kwargs={"middleware": limits}, ssr_mode=False,
                    prevent_thread_lock=True, quiet=True, **launch_kwargs)
    if not quiet:
        print(f"Serving the demo on {demo.local_url} (Ctrl-C stops it)", flush=True)
    if not prevent_thread_lock:
        demo.block_thread()


def _gradio_folders() -> list[Path]:
    """The folders that Gradio's server makes for itself when it starts (its vibe-edit
    history, in the temporary folder Gradio was imported with) and that do not exist yet,
    deepest first."""
    from gradio import routes

    base = getattr(routes, "DEFAULT_TEMP_DIR", None)
    if base is None:
        return []
    folder = Path(base) / "vibe_edit_history"
    return list(itertools.takewhile(lambda path: not path.exists(), [folder, *folder.parents]))


@contextlib.contextmanager
def private_cache() -> Iterator[Path]:
    """A new folder (mode 0700) for Gradio's cache inside ``GRADIO_TEMP_DIR`` (default: the
    system's temporary folder), made ``GRADIO_TEMP_DIR`` while inside and deleted, with all
    it holds, on the way out; so are the folders Gradio's server made for itself meanwhile
    (if still empty). A ``StartError`` says when the folder cannot be made.

    Enter it before :func:`build_demo`, which copies the examples into the cache.
    """
    parent = os.environ.get("GRADIO_TEMP_DIR")
    gradio_folders = _gradio_folders()
    try:
        if parent:
            Path(parent).mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix=CACHE_PREFIX, dir=parent))
    except OSError as error:
        where = (f"GRADIO_TEMP_DIR {parent}" if parent
                 else f"the temporary folder {tempfile.gettempdir()}")
        raise StartError(f"cannot make the demo's cache folder in {where}: "
                         f"{error.strerror or error}; set GRADIO_TEMP_DIR to a folder this "
                         "user can write") from None
    os.environ["GRADIO_TEMP_DIR"] = str(path)
    try:
        yield path
    finally:
        if parent:
            os.environ["GRADIO_TEMP_DIR"] = parent
        else:
            del os.environ["GRADIO_TEMP_DIR"]
        shutil.rmtree(path, ignore_errors=True)
        for folder in gradio_folders:
            with contextlib.suppress(OSError):  # not made, or holds files: kept
                folder.rmdir()


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
