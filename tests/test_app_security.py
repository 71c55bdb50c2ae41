"""The served demo's hardening: upload limits and quota, only uploads read, cache cleanup and
removal, security headers, no server paths."""

import contextlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from gradio import routes
from starlette.responses import PlainTextResponse
from starlette.testclient import TestClient
from test_demo import free_port, save_tiny_classifier, save_tiny_pretext

from keras_sb.demo import (
    CACHE_CLEANUP,
    CACHE_PREFIX,
    EXAMPLES_DIR,
    GALLERY_PANELS,
    MB,
    NOT_AN_UPLOAD,
    SECURITY_HEADERS,
    CallLimits,
    UploadLimits,
    build_demo,
    cache_usage,
    interrupt_on_stop_signals,
    load_classifier,
    load_pretext,
    private_cache,
    serve,
)

REPO = Path(__file__).resolve().parent.parent
PHOTO = EXAMPLES_DIR / "parachute.jpg"
UPLOAD = "/gradio_api/upload"
PUBLIC_ROUTES = ["/", "/config", "/gradio_api/info", "/gradio_api/info?all_endpoints=true"]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    return save_tiny_classifier(tmp_path_factory.mktemp("models") / "classifier.keras")


@pytest.fixture(scope="module")
def model(model_path):
    return load_classifier(model_path)


@pytest.fixture(scope="module")
def served(model, model_path):
    """The demo served as app.py serves it, with a 1 MB limit and GRADIO_SERVER_NAME=0.0.0.0."""
    demo = build_demo(model, model_path)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
        serve(demo, port=free_port(), max_upload_mb=1, prevent_thread_lock=True, quiet=True)
    try:
        yield demo
    finally:
        demo.close()


@pytest.fixture(scope="module")
def http(served):
    with httpx.Client(base_url=served.local_url.rstrip("/"), timeout=30) as client:
        yield client


def upload(http: httpx.Client, size: int) -> httpx.Response:
    return http.post(UPLOAD, files={"files": ("upload.png", b"\0" * size)})


def classify(http: httpx.Client, path: str | Path, meta: bool = True,
             timeout: float = 30) -> str:
    """The server-sent events of ``/classify`` on the server's file ``path`` (Gradio's HTTP
    API), with Gradio's file ``meta`` or, as a hostile client may, without; "timeout" if not
    done within ``timeout`` seconds."""
    value = {"path": str(path), "meta": {"_type": "gradio.FileData"}} if meta else {
        "path": str(path)}
    deadline = time.monotonic() + timeout
    call = http.post("/gradio_api/call/classify", json={"data": [value, 0.38]})
    text = ""
    with http.stream("GET", f"/gradio_api/call/classify/{call.json()['event_id']}") as events:
        for chunk in events.iter_text():  # heartbeats every 15 s: a plain GET never times out
            text += chunk
            if time.monotonic() > deadline:
                return "timeout"
    return text


def result(events: str) -> list:
    """The outputs (label, gallery, status) of a completed call's events."""
    assert "event: complete" in events, events[-300:]
    return json.loads(events.split("event: complete\ndata: ", 1)[1])


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.fixture
def hostile_files(tmp_path, served) -> dict[str, Path]:
    """Files a hostile /classify call may name: an image outside the cache, a file in the
    cache folder this server did not receive, a FIFO, a sparse file of 512 MiB and a device."""
    outside = tmp_path / "private.jpg"
    shutil.copy(PHOTO, outside)
    planted = Path(served.GRADIO_CACHE) / f"planted-{os.getpid()}" / "photo.jpg"
    planted.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(PHOTO, planted)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    sparse = tmp_path / "sparse.png"
    with open(sparse, "wb") as file:
        file.truncate(512 * MB)
    link = planted.parent / "link.jpg"
    link.unlink(missing_ok=True)
    link.symlink_to(outside)
    try:
        yield {"outside": outside, "planted": planted, "symlink": link, "missing":
               tmp_path / "gone.jpg", "passwd": Path("/etc/passwd"), "fifo": fifo,
               "sparse": sparse, "device": Path("/dev/zero")}
    finally:
        shutil.rmtree(planted.parent)
        os.close(os.open(fifo, os.O_RDWR))  # a reader stuck in open() (unchecked) sees EOF


def test_binds_to_loopback_unless_told(served):
    bound = {sock.getsockname()[0] for server in served.server.servers
             for sock in server.sockets}
    assert bound == {"127.0.0.1"}


@pytest.mark.parametrize("route", [*PUBLIC_ROUTES, "/no-such-page"])
def test_security_headers(http, route):
    headers = http.get(route).headers
    assert {name: headers.get(name) for name in SECURITY_HEADERS} == SECURITY_HEADERS


def test_upload_limit_is_enforced_by_the_server(served, http):
    refused = upload(http, MB + 1)
    assert refused.status_code == 413 and "maximum allowed size" in refused.text
    assert refused.headers["X-Content-Type-Options"] == "nosniff"
    accepted = upload(http, MB)
    assert accepted.status_code == 200
    assert Path(accepted.json()[0]).parent.parent == Path(served.GRADIO_CACHE)
    assert http.get("/config").json()["max_file_size"] == MB  # the page refuses it first


def test_page_and_api_show_no_server_paths(http, model_path):
    for route in PUBLIC_ROUTES:
        text = http.get(route).text
        assert str(REPO) not in text and str(model_path.parent) not in text, route
    assert "**Model** `classifier.keras`" in http.get("/config").text


def test_only_uploads_are_served_or_read(http):
    for path in (REPO / "app.py", PHOTO):
        assert http.get(f"/gradio_api/file={path}").status_code == 403
    events = classify(http, REPO / "app.py")
    assert "event: error" in events and "app.py" not in events


def test_classify_reads_nothing_but_uploads_and_examples(http, hostile_files):
    """Paths sent without Gradio's file meta, which Gradio does not check: each refused at
    once with the same answer; uploads and examples, with or without meta, classified."""
    for name, path in hostile_files.items():
        start = time.perf_counter()
        events = classify(http, path, meta=False)
        seconds = time.perf_counter() - start
        assert result(events) == [{}, [], NOT_AN_UPLOAD], name
        assert str(path.parent) not in events and seconds < 1, (name, seconds)
    uploaded = http.post(UPLOAD, files={"files": ("photo.jpg", PHOTO.read_bytes())}).json()[0]
    example = re.search(r'"path": ?"([^"]+/parachute\.jpg)"', http.get("/config").text)[1]
    for path, meta in [(uploaded, True), (uploaded, False), (example, True), (example, False),
                       (PHOTO, False)]:  # Gradio refuses PHOTO with meta: not in its cache
        label, gallery, _ = result(classify(http, path, meta))
        assert "confidences" in label and len(gallery) == len(GALLERY_PANELS), (path, meta)


def test_hostile_files_neither_block_nor_fill_memory(http, hostile_files):
    """A FIFO, a sparse 512 MiB file and /dev/zero, asked for at once, while a photo is
    classified: all refused at once, the photo classified, memory flat."""
    uploaded = http.post(UPLOAD, files={"files": ("photo.jpg", PHOTO.read_bytes())}).json()[0]
    classify(http, uploaded)  # warm
    start = time.perf_counter()
    classify(http, uploaded)
    alone = time.perf_counter() - start
    peak = peak_rss_mib()
    answers = {}

    def attack(name: str) -> None:
        with httpx.Client(base_url=http.base_url, timeout=10) as own:
            answers[name] = classify(own, hostile_files[name], meta=False, timeout=10)

    threads = [threading.Thread(target=attack, args=(name,))
               for name in ("sparse", "fifo", "device")]
    for thread in threads:
        thread.start()
    time.sleep(0.1)
    start = time.perf_counter()
    label, _, _ = result(classify(http, uploaded))
    during = time.perf_counter() - start
    for thread in threads:
        thread.join(10)
    print(f"\n/classify of a photo: {alone:.2f} s alone, {during:.2f} s with hostile calls in "
          f"flight; peak RSS {peak:.0f} -> {peak_rss_mib():.0f} MiB")
    assert "confidences" in label
    assert all(result(answers[name])[2] == NOT_AN_UPLOAD for name in ("sparse", "fifo", "device"))
    assert peak_rss_mib() - peak < 100


def test_upload_quota_and_rate(model):
    """A flood of 1 MiB uploads: two fit the 3 MiB quota (507 after), the fifth from the same
    client in a minute gets 429."""
    demo = build_demo(model, "tiny")
    serve(demo, port=free_port(), max_upload_mb=1, cache_quota_mb=3, uploads_per_minute=4,
          prevent_thread_lock=True, quiet=True)
    try:
        with httpx.Client(base_url=demo.local_url.rstrip("/"), timeout=30) as http:
            answers = [http.post(UPLOAD, files={"files": (
                "flood.png", os.urandom(16) + bytes(MB - 16))}) for _ in range(6)]
        print(f"\ncache after 6 uploads of 1 MiB: {cache_usage(demo) / MB:.2f} MiB")
    finally:
        demo.close()
    assert [answer.status_code for answer in answers] == [200, 200, 507, 507, 429, 429]
    assert answers[2].text == "The upload cache is full (3 MB); try again later."
    assert answers[4].text.startswith("Too many uploads: at most 4 a minute from one client")
    assert 0 < int(answers[4].headers["Retry-After"]) <= 60
    assert answers[4].headers["X-Content-Type-Options"] == "nosniff"
    assert cache_usage(demo) <= 3 * MB


def test_upload_limits_per_client_and_size():
    """Clients are IP addresses (IPv6: /64 networks); uploads state their size, at most
    max_bytes; the quota counts uploads in progress."""
    received = []

    async def app(scope, receive, send):
        received.append(scope["client"][0])
        await PlainTextResponse("ok")(scope, receive, send)

    limits = UploadLimits(app, quota=100, per_minute=2, max_bytes=50, usage=lambda: 40)

    def post(client: str, content=b"x" * 10, path: str = UPLOAD) -> httpx.Response:
        return TestClient(limits, client=(client, 1)).post(path, content=content)

    assert [post("10.0.0.1").status_code for _ in range(3)] == [200, 200, 429]
    assert post("10.0.0.2").status_code == 200
    assert [post(f"2001:db8::{i}").status_code for i in range(3)] == [200, 200, 429]
    assert post("2001:db8:0:1::1").status_code == 200
    assert post("10.0.0.3", b"x" * 51).status_code == 413
    assert post("10.0.0.4", iter([b"x"])).status_code == 411  # chunked: no size stated
    assert post("10.0.0.5", b"x" * 61).status_code == 413
    limits.in_progress = 11
    assert post("10.0.0.6", b"x" * 50).status_code == 507
    assert post("10.0.0.6", b"x" * 10, "/gradio_api/info").status_code == 200  # not an upload


@contextlib.contextmanager
def serving(model, **settings) -> Iterator[httpx.Client]:
    """A client of a tiny demo served with ``settings``."""
    demo = build_demo(model, "tiny")
    serve(demo, port=free_port(), prevent_thread_lock=True, quiet=True, **settings)
    try:
        with httpx.Client(base_url=demo.local_url.rstrip("/"), timeout=30) as http:
            yield http
    finally:
        demo.close()


@pytest.mark.parametrize("trusted", [(), ("127.0.0.1",)], ids=["default", "proxy"])
def test_forwarded_for_is_trusted_only_from_named_proxies(model, trusted):
    """From a client that is not a trusted proxy, varying X-Forwarded-For does not escape the
    upload rate; from a trusted proxy, it names the clients the rate applies to."""
    def post(forwarded: str) -> int:
        return http.post(UPLOAD, files={"files": ("photo.png", b"\0" * 100)},
                         headers={"X-Forwarded-For": forwarded}).status_code

    with serving(model, uploads_per_minute=2, trusted_proxies=trusted) as http:
        codes = [post("203.0.113.1") for _ in range(3)]
        codes += [post(f"203.0.113.{i}") for i in range(2, 6)]
    if trusted:
        assert codes == [200, 200, 429, 200, 200, 200, 200]
    else:
        assert codes == [200, 200, 429, 429, 429, 429, 429]


def test_classify_has_a_per_client_rate(model):
    """API calls and the page's queue share the limit; a new X-Forwarded-For does not
    escape it; the answer is JSON with a detail, which Gradio's page shows."""
    with serving(model, requests_per_minute=2) as http:
        uploaded = http.post(UPLOAD, files={"files": ("photo.jpg", PHOTO.read_bytes())})
        value = {"path": uploaded.json()[0], "meta": {"_type": "gradio.FileData"}}
        calls = [http.post("/gradio_api/call/classify", json={"data": [value, 0.38]})
                 for _ in range(2)]
        joined = http.post("/gradio_api/queue/join", json={
            "data": [value, 0.38], "fn_index": 0, "session_hash": "abc"})
        varied = http.post("/gradio_api/call/classify", json={"data": [value, 0.38]},
                           headers={"X-Forwarded-For": "203.0.113.7"})
    assert [call.status_code for call in calls] == [200, 200]
    assert joined.status_code == varied.status_code == 429
    assert joined.json()["detail"].startswith("Too many requests: at most 2 a minute from one "
                                              "client; try again in ")
    assert 0 < int(joined.headers["Retry-After"]) <= 60
    assert joined.headers["X-Content-Type-Options"] == "nosniff"


def test_call_limits_count_the_routes_that_run_functions():
    async def app(scope, receive, send):
        await PlainTextResponse("ok")(scope, receive, send)

    for path in ["/gradio_api/queue/join", "/gradio_api/call/classify",
                 "/gradio_api/call/v2/classify", "/gradio_api/run/classify/",
                 "/gradio_api/api/classify", "/gradio_api/process_recording"]:
        http = TestClient(CallLimits(app, per_minute=1), client=("10.0.0.1", 1))
        assert [http.post(path).status_code for _ in range(2)] == [200, 429], path
        assert TestClient(http.app, client=("10.0.0.2", 1)).post(path).status_code == 200
    http = TestClient(CallLimits(app, per_minute=1), client=("10.0.0.1", 1))
    for method, path in [("GET", "/gradio_api/call/classify/abc"), ("POST", UPLOAD),
                         ("GET", "/gradio_api/queue/data"), ("POST", "/gradio_api/info"),
                         ("GET", "/")]:
        assert [http.request(method, path).status_code for _ in range(2)] == [200, 200], path


def test_served_demo_prints_its_address_and_no_share_hint(model, capfd):
    """Gradio's hint to set share=True in launch() is not for the demo's users."""
    demo = build_demo(model, "tiny")
    port = free_port()
    serve(demo, port=port, prevent_thread_lock=True)
    demo.close()
    out = capfd.readouterr().out
    assert "share=True" not in out
    assert f"Serving the demo on http://127.0.0.1:{port}/ (Ctrl-C stops it)" in out


def test_private_cache_removes_the_folders_gradio_made_and_keeps_others(model, tmp_path,
                                                                         monkeypatch):
    """Gradio's server makes vibe_edit_history/ in its temporary folder: removed if this
    run made it, kept (with what it holds) if it was there before."""
    monkeypatch.setattr(routes, "DEFAULT_TEMP_DIR", str(tmp_path / "gradio"))
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    made = tmp_path / "gradio" / "vibe_edit_history"
    for before in (False, True):
        if before:
            made.mkdir(parents=True)
            (made / "mine.py").write_text("not the demo's")
        with private_cache():
            demo = build_demo(model, "tiny")
            serve(demo, port=free_port(), prevent_thread_lock=True, quiet=True)
            demo.close()
            assert made.is_dir()  # Gradio's
        if not before:
            assert list(tmp_path.iterdir()) == []
    assert [p.name for p in made.iterdir()] == ["mine.py"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_private_cache_is_removed_on_stop_signals(tmp_path, monkeypatch, signum):
    """Also when SIGINT was ignored, as in a process a shell started in the background."""
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    with pytest.raises(KeyboardInterrupt), interrupt_on_stop_signals(), private_cache() as cache:
        assert os.environ["GRADIO_TEMP_DIR"] == str(cache)
        assert cache.parent == tmp_path and cache.name.startswith(CACHE_PREFIX)
        (cache / "upload").mkdir()
        (cache / "upload" / "photo.jpg").write_bytes(PHOTO.read_bytes())
        os.kill(os.getpid(), signum)
        time.sleep(5)
    assert list(tmp_path.iterdir()) == [] and os.environ["GRADIO_TEMP_DIR"] == str(tmp_path)
    assert signal.signal(signal.SIGINT, before) is signal.SIG_IGN


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_app_removes_its_cache_when_stopped(model_path, tmp_path, signum):
    """``python app.py`` stopped by SIGTERM or SIGINT leaves no file in GRADIO_TEMP_DIR."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "app.py", "--model", str(model_path), "--port", str(port)], cwd=REPO,
        env={**os.environ, "GRADIO_TEMP_DIR": str(tmp_path)},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            deadline = time.monotonic() + 120
            while not served_app(http):
                assert server.poll() is None and time.monotonic() < deadline, "no server"
                time.sleep(0.5)
            uploaded = http.post(UPLOAD, files={"files": ("photo.jpg", PHOTO.read_bytes())})
            path = Path(uploaded.json()[0])
            assert path.is_file() and path.parent.parent.parent == tmp_path
            assert "confidences" in result(classify(http, path))[0]  # results cached too
        server.send_signal(signum)
        assert server.wait(90) == 0, server.stderr.read().decode()[-2000:]
    finally:
        server.kill()
    assert list(tmp_path.iterdir()) == []  # Gradio's vibe_edit_history/ included


def served_app(http: httpx.Client) -> bool:
    try:
        return http.get("/config").status_code == 200
    except httpx.TransportError:
        return False


def test_uploads_and_results_are_deleted_from_the_cache(model):
    assert build_demo(model).delete_cache == CACHE_CLEANUP == (3600, 3600)
    demo = build_demo(model, "tiny", delete_cache=(1, 1))
    serve(demo, port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        with httpx.Client(base_url=demo.local_url.rstrip("/"), timeout=30) as http:
            uploaded = http.post(UPLOAD, files={"files": ("photo.jpg", PHOTO.read_bytes())})
            events = classify(http, uploaded.json()[0])
            _, gallery, _ = json.loads(events.split("event: complete\ndata: ", 1)[1])
            paths = [Path(uploaded.json()[0])] + [Path(item["image"]["path"]) for item in gallery]
            assert len(paths) == 1 + len(GALLERY_PANELS) and all(p.exists() for p in paths)
            deadline = time.monotonic() + 10
            while any(p.exists() for p in paths) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert not any(p.exists() for p in paths)
            example = re.search(r'"url": ?"([^"]+/parachute\.jpg)"', http.get("/config").text)
            assert http.get(example[1]).status_code == 200  # examples are kept
    finally:
        demo.close()


def test_pretext_page_names_both_models_by_file_name_only(tmp_path_factory):
    """A conv3 classifier with a pretext model, and a pretext model alone, served."""
    probe_path = save_tiny_classifier(tmp_path_factory.mktemp("probe") / "probe.keras",
                                      feature_layer="conv3")
    pretext_path = save_tiny_pretext(tmp_path_factory.mktemp("pretrain") / "pretext.keras")
    pretext = load_pretext(pretext_path)
    pages = [(build_demo(load_classifier(probe_path), probe_path, pretext=pretext,
                         pretext_name=pretext_path), "`probe.keras`", True),
             (build_demo(pretext, pretext_path), "**Model** `pretext.keras`", False)]
    for demo, named, classes in pages:
        serve(demo, port=free_port(), prevent_thread_lock=True, quiet=True)
        try:
            with httpx.Client(base_url=demo.local_url.rstrip("/"), timeout=30) as http:
                for route in PUBLIC_ROUTES:
                    text = http.get(route).text
                    assert str(probe_path.parent) not in text, route
                    assert str(pretext_path.parent) not in text, route
                config = http.get("/config").text
                assert named in config and "`pretext.keras`" in config
                uploaded = http.post(UPLOAD, files={"files": ("photo.jpg", PHOTO.read_bytes())})
                events = classify(http, uploaded.json()[0])
                label, gallery, _ = json.loads(events.split("event: complete\ndata: ", 1)[1])
                assert len(gallery) == len(GALLERY_PANELS)
                assert ("confidences" in label) == classes
        finally:
            demo.close()
