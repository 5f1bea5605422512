"""The page of `crnn-toolkit serve` in headless Chromium (Debian's chromium, driven by Playwright),
and page reading on screenshots of a paragraph rendered by Chromium.

The server runs in a thread on 127.0.0.1 with the bundled model; the browser reaches nothing
else (the paragraph's font is inlined as a data URL).
"""

import base64
import os
import shutil
import socket
import threading
import time

import pytest
from page_images import grey, png_bytes, render_page
from PIL import Image

pytest.importorskip("fastapi", reason="the 'serve' extra is not installed "
                                      "(pip install -e '.[serve]')")
pytest.importorskip("playwright", reason="playwright is not installed (pip install -e '.[test]')")
CHROMIUM = (os.environ.get("CHROMIUM") or shutil.which("chromium")
            or shutil.which("chromium-browser"))
if CHROMIUM is None:
    pytest.skip("no chromium on PATH (apt-get install chromium; .ci/run installs it)",
                allow_module_level=True)

import uvicorn  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from toolkit.metrics import Scores  # noqa: E402
from toolkit.paths import FONTS_DIR, bundled_model_dir  # noqa: E402
from toolkit.predict import Recognizer  # noqa: E402
from toolkit.serve import RecognitionService, ServeConfig, create_app  # noqa: E402

FONT = FONTS_DIR / "NotoSansSC-Regular.otf"
LINE_TEXT = "明月几时有，把酒问青天。"
PARAGRAPH = ["明月几时有，把酒问青天。", "不知天上宫阙，今夕是何年。",
             "我欲乘风归去，又恐琼楼玉宇，", "高处不胜寒。起舞弄清影，何似在人间。"]
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def recognizer():
    if bundled_model_dir() is None or not FONT.exists():
        pytest.skip("no bundled model or bundled Noto Sans SC font")
    return Recognizer.from_weights(bundled_model_dir())


@pytest.fixture(scope="module")
def server(recognizer):
    """The app on a free 127.0.0.1 port, in a thread; yields its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(RecognitionService(recognizer, ServeConfig(), name="bundled"))
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=30)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context()
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    pg.goto(server + "/")
    pg.wait_for_function("document.getElementById('model').textContent.includes('bundled')")
    yield pg
    context.close()


def _line_png(tmp_path):
    path = tmp_path / "line.png"
    render_page([LINE_TEXT], FONT, size=28, pitch=44).save(path)
    return path


def _wait_for_reading(page):
    page.wait_for_function("document.getElementById('timing').textContent.includes('read in')")
    return page.inner_text("#text").strip()


def test_chosen_file_shows_its_text_and_time(page, tmp_path):
    page.set_input_files("#file", str(_line_png(tmp_path)))
    assert _wait_for_reading(page) == LINE_TEXT
    assert "1 line (line)" in page.inner_text("#timing")
    assert page.locator("#preview").get_attribute("src").startswith("blob:")


def test_low_confidence_chars_are_marked_by_the_threshold(page, tmp_path):
    page.set_input_files("#file", str(_line_png(tmp_path)))
    _wait_for_reading(page)
    spans = page.locator("#text span")
    assert spans.count() == len(LINE_TEXT)
    probabilities = [float(x) for x in
                     spans.evaluate_all("els => els.map(e => e.dataset.probability)")]
    for threshold in ("1", "0.999", "0"):
        page.fill("#threshold", threshold)
        expected = sum(p < float(threshold) for p in probabilities)
        assert page.locator("#text span.low").count() == expected


def test_dropped_and_pasted_images_are_read(page, tmp_path):
    data = base64.b64encode(_line_png(tmp_path).read_bytes()).decode()
    make_transfer = ("b64 => { const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));"
                     " const dt = new DataTransfer();"
                     " dt.items.add(new File([bytes], 'line.png', {type: 'image/png'}));"
                     " return dt; }")
    page.evaluate(f"""b64 => {{ const dt = ({make_transfer})(b64);
        document.getElementById('drop').dispatchEvent(
            new DragEvent('drop', {{dataTransfer: dt, bubbles: true, cancelable: true}})); }}""",
                  data)
    assert _wait_for_reading(page) == LINE_TEXT
    page.evaluate("document.getElementById('timing').textContent = ''")
    page.evaluate(f"""b64 => {{ const dt = ({make_transfer})(b64);
        document.dispatchEvent(new ClipboardEvent('paste', {{clipboardData: dt}})); }}""", data)
    assert _wait_for_reading(page) == LINE_TEXT


def test_a_file_that_is_no_image_shows_the_servers_message(page, tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image", encoding="utf-8")
    page.set_input_files("#file", str(bad))
    page.wait_for_function("document.getElementById('status').classList.contains('error')")
    assert "not an image" in page.inner_text("#status")


def _paragraph_screenshot(browser, rotate_deg: float) -> Image.Image:
    """PARAGRAPH in Noto Sans SC 26 px, one div per line, the block rotated by CSS."""
    font = base64.b64encode(FONT.read_bytes()).decode()
    lines = "".join(f"<div>{t}</div>" for t in PARAGRAPH)
    html = f"""<!doctype html><html><head><meta charset="utf-8"><style>
        @font-face {{ font-family: NotoTest; src: url(data:font/otf;base64,{font}); }}
        body {{ margin: 0; background: #fff; }}
        #p {{ font: 26px/1.7 NotoTest; color: #222; padding: 40px 50px; width: 640px;
              transform: rotate({rotate_deg}deg); transform-origin: center; }}
        </style></head><body><div id="p">{lines}</div></body></html>"""
    context = browser.new_context(viewport={"width": 800, "height": 360})
    try:
        pg = context.new_page()
        pg.set_content(html)
        pg.wait_for_function("document.fonts.check('26px NotoTest')", timeout=TIMEOUT_MS)
        shot = pg.screenshot(full_page=True)
    finally:
        context.close()
    import io

    return Image.open(io.BytesIO(shot)).convert("L")


@pytest.mark.parametrize("rotate_deg", [0.0, -1.5])
def test_screenshot_of_a_paragraph_reads_line_by_line(browser, recognizer, rotate_deg):
    shot = _paragraph_screenshot(browser, rotate_deg)
    reading = recognizer.read_images([grey(shot)], "page")[0]
    assert len(reading.lines) == len(PARAGRAPH), reading.text
    # CSS rotates clockwise for positive degrees; the skew is counter-clockwise positive.
    assert reading.skew == pytest.approx(-rotate_deg, abs=0.3)
    scores = Scores()
    for gt, line in zip(PARAGRAPH, reading.lines, strict=True):
        scores.add(gt, line.text)
    assert scores.cer <= 0.05, reading.text


def test_screenshot_uploaded_on_the_page_shows_every_line(browser, page, tmp_path):
    path = tmp_path / "paragraph.png"
    path.write_bytes(png_bytes(_paragraph_screenshot(browser, -1.5)))
    page.set_input_files("#file", str(path))
    text = _wait_for_reading(page)
    assert page.locator("#text .line").count() == len(PARAGRAPH)
    assert "(page, deskewed" in page.inner_text("#timing")
    scores = Scores()
    for gt, line in zip(PARAGRAPH, text.splitlines(), strict=True):
        scores.add(gt, line)
    assert scores.cer <= 0.05, text
