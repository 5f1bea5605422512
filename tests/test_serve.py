"""The HTTP API and the page's files (toolkit.serve) through FastAPI's TestClient, and the real
`crnn-toolkit serve` command in a subprocess."""

import io
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
from page_images import PAGE_LINES, grey, png_bytes, render_page
from PIL import Image

pytest.importorskip("fastapi", reason="the 'serve' extra is not installed "
                                      "(pip install -e '.[serve]')")
pytest.importorskip("multipart", reason="python-multipart (the 'serve' extra) is not installed")
from fastapi.testclient import TestClient  # noqa: E402

from toolkit.predict import Recognizer  # noqa: E402
from toolkit.serve import RecognitionService, ServeConfig, create_app  # noqa: E402

LIMITS = ServeConfig(max_bytes=300_000, max_pixels=1_000_000)
LINE = render_page(["春风明月天人山"])
PAGE = render_page(PAGE_LINES, rotate=1.5)


@pytest.fixture(scope="module")
def recognizer(tiny_model):
    return Recognizer.from_weights(tiny_model)


@pytest.fixture(scope="module")
def client(recognizer):
    return TestClient(create_app(RecognitionService(recognizer, LIMITS, name="tiny")))


def _post_raw(client, data, content_type="image/png", query=""):
    return client.post(f"/v1/recognize{query}", content=data,
                       headers={"content-type": content_type})


def test_raw_body_and_multipart_give_the_library_reading(client, recognizer):
    expected = recognizer.read_images([grey(LINE)], "auto")[0]
    raw = _post_raw(client, png_bytes(LINE))
    assert raw.status_code == 200, raw.text
    multi = client.post("/v1/recognize", files={"file": ("line.png", png_bytes(LINE), "image/png")})
    assert multi.status_code == 200, multi.text
    for answer in (raw.json(), multi.json()):
        assert answer["text"] == expected.text
        assert answer["confidence"] == pytest.approx(expected.confidence, abs=1e-4)
        assert answer["layout"] == "line" and answer["skew_degrees"] == 0.0
        assert (answer["width"], answer["height"]) == LINE.size
        assert 0 < answer["elapsed_s"] < 60
        assert "".join(c["char"] for c in answer["chars"]) == answer["text"]
        assert all(0 <= c["probability"] <= 1 for c in answer["chars"])
        assert len(answer["lines"]) == 1 and answer["lines"][0]["box"] is None
    assert raw.json()["chars"] == multi.json()["chars"]


def test_page_layouts(client):
    page = _post_raw(client, png_bytes(PAGE)).json()
    assert page["layout"] == "page" and len(page["lines"]) == len([t for t in PAGE_LINES if t])
    assert page["skew_degrees"] == pytest.approx(1.5, abs=0.3)
    assert page["text"] == "\n".join(line["text"] for line in page["lines"])
    tops = [line["box"][1] for line in page["lines"]]
    assert tops == sorted(tops)
    assert _post_raw(client, png_bytes(PAGE), query="?layout=page").json()["lines"] == page["lines"]
    as_line = _post_raw(client, png_bytes(PAGE), query="?layout=line").json()
    assert as_line["layout"] == "line" and len(as_line["lines"]) == 1


def _huge_png():
    buf = io.BytesIO()
    Image.new("1", (1200, 1000), 1).save(buf, "PNG")  # 1.2 M pixels in a few hundred bytes
    return buf.getvalue()


BAD_REQUESTS = {
    "empty": (lambda c: _post_raw(c, b""), 400, "empty"),
    "not an image": (lambda c: _post_raw(c, b"GIF? no, just text", "text/plain"), 415,
                     "not an image"),
    "truncated": (lambda c: _post_raw(c, png_bytes(LINE)[:200]), 415, "cannot read image"),
    "too many bytes": (lambda c: _post_raw(c, b"\x89PNG" + b"\0" * 300_000), 413,
                       "more than the limit of 300,000"),
    "too many bytes, chunked": (
        lambda c: c.post("/v1/recognize", content=iter([b"\0" * 200_000, b"\0" * 200_000])),
        413, "over 300,000 bytes"),
    "too many pixels": (lambda c: _post_raw(c, _huge_png()), 413,
                        "1200x1000 px = 1,200,000 px, over the limit of 1,000,000 px"),
    "unknown layout": (lambda c: _post_raw(c, png_bytes(LINE), query="?layout=columns"), 400,
                       "layout must be one of line, page, auto"),
    "multipart without the file field": (
        lambda c: c.post("/v1/recognize", files={"image": ("a.png", png_bytes(LINE), "image/png")}),
        400, "no file field 'file' (fields: image)"),
    "multipart with an empty file": (
        lambda c: c.post("/v1/recognize", files={"file": ("a.png", b"", "image/png")}), 400,
        "uploaded file 'a.png' is empty"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_request_gets_a_4xx_message_and_the_server_goes_on(client, case):
    send, status, message = BAD_REQUESTS[case]
    r = send(client)
    assert r.status_code == status, r.text
    assert message in r.json()["detail"]
    assert _post_raw(client, png_bytes(LINE)).status_code == 200


def test_concurrent_clients_are_all_answered(client):
    texts = ("春风", "明月天人", "山水花云江河", "日夜秋雨落长白")
    images = [render_page([text]) for text in texts]
    expected = [_post_raw(client, png_bytes(im)).json()["text"] for im in images]
    answers, errors = {}, []

    def worker(k):
        try:
            for j in range(3):
                i = (k + j) % len(images)
                r = _post_raw(client, png_bytes(images[i]))
                answers[(k, j)] = (i, r.status_code, r.json()["text"])
        except Exception as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and len(answers) == 24
    assert all(status == 200 and text == expected[i] for i, status, text in answers.values())


def test_page_and_its_static_files_are_served(client):
    index = client.get("/")
    assert index.status_code == 200 and "text/html" in index.headers["content-type"]
    for asset in ("/static/app.js", "/static/style.css"):
        assert asset in index.text
        assert client.get(asset).status_code == 200
    info = client.get("/v1/info").json()
    assert info["model"] == "tiny" and info["max_pixels"] == 1_000_000
    assert info["layouts"] == ["line", "page", "auto"]


def test_config_is_checked():
    with pytest.raises(ValueError, match="max_bytes"):
        ServeConfig(max_bytes=0)
    with pytest.raises(ValueError, match="low_confidence"):
        ServeConfig(low_confidence=1.5)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_command_answers_on_localhost(tiny_model):
    import httpx2 as httpx

    port = _free_port()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen([sys.executable, "-m", "toolkit", "serve", "--weights-path",
                             str(tiny_model), "--port", str(port), "--max-pixels", "500000"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                info = httpx.get(f"{url}/v1/info", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "server did not start in 120 s"
                time.sleep(0.5)
        assert info.json()["max_pixels"] == 500_000
        r = httpx.post(f"{url}/v1/recognize", content=png_bytes(LINE), timeout=60)
        assert r.status_code == 200 and r.json()["layout"] == "line"
        assert httpx.post(f"{url}/v1/recognize", content=b"", timeout=60).status_code == 400
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert f"on http://127.0.0.1:{port}/" in out


def test_serve_help_is_light():
    code = ("import sys; from click.testing import CliRunner; from toolkit.cli import main; "
            "r = CliRunner().invoke(main, ['serve', '--help']); assert r.exit_code == 0; "
            "assert '--max-pixels' in r.output; print('tensorflow' in sys.modules, "
            "'fastapi' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
