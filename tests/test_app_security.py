"""The served demo's hardening: upload limit, cache cleanup, security headers, no server paths."""

import json
import re
import time
from pathlib import Path

import httpx
import pytest
from test_demo import free_port, save_tiny_classifier, save_tiny_pretext

from keras_sb.demo import (
    CACHE_CLEANUP,
    EXAMPLES_DIR,
    GALLERY_PANELS,
    MB,
    SECURITY_HEADERS,
    build_demo,
    load_classifier,
    load_pretext,
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


def classify(http: httpx.Client, path: str | Path) -> str:
    """The server-sent events of ``/classify`` on the server's file ``path`` (Gradio's HTTP API)."""
    call = http.post("/gradio_api/call/classify", json={"data": [
        {"path": str(path), "meta": {"_type": "gradio.FileData"}}, 0.38]})
    return http.get(f"/gradio_api/call/classify/{call.json()['event_id']}").text


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
