"""A web page and an HTTP API over a :class:`toolkit.predict.Recognizer` (``crnn-toolkit serve``).

Built with FastAPI and served by uvicorn, both from the optional ``serve`` extra
(``pip install "crnn-toolkit[serve]"``).

- ``GET /``: a page (``toolkit/web/``) to drop, paste or choose an image and see its text, with
  the chars the model is unsure of marked, and the time the reading took.
- ``POST /v1/recognize?layout=line|page|auto``: the image's bytes as the body, or as the ``file``
  field of a ``multipart/form-data`` form. Answers JSON (see :func:`reading_json`).
- ``GET /v1/info``: the model and the server's limits, JSON.

A bad request (an empty body, bytes that are no image, more than ``max_bytes`` bytes or
``max_pixels`` pixels, an unknown layout) gets a 4xx answer ``{"detail": "<message>"}`` and the
server goes on serving. Requests are decoded in parallel (a thread pool) and read by the model
one at a time, under a lock: the model's own batches already use every core.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

try:
    import uvicorn
    from fastapi import FastAPI, HTTPException, Query, Request
    from fastapi.responses import FileResponse
    from fastapi.staticfiles import StaticFiles
    from starlette.concurrency import run_in_threadpool
except ModuleNotFoundError as e:  # the optional extra is not installed
    raise ModuleNotFoundError(
        f"crnn-toolkit serve needs the 'serve' extra ({e.name} is missing): "
        f"pip install 'crnn-toolkit[serve]'", name=e.name) from e

from toolkit.predict import (
    LAYOUTS,
    ImageError,
    ImageReading,
    ImageTooLargeError,
    LineReading,
    Recognizer,
    decode_image,
)

logger = logging.getLogger(__name__)

WEB_DIR = Path(str(resources.files("toolkit") / "web"))
"""The page's static files (HTML, JavaScript, CSS), shipped as package data."""
MULTIPART_FIELD = "file"
"""The form field that carries the image in a multipart request."""


@dataclass(frozen=True)
class ServeConfig:
    """Limits and display settings of the server.

    Attributes:
        max_bytes: largest request body, bytes (a multipart body counts whole).
        max_pixels: largest image, width x height px, checked from the image header before
            decoding.
        low_confidence: the page marks chars whose probability is below this, in [0, 1].

    Raises:
        ValueError: for a limit under 1 or a ``low_confidence`` outside [0, 1].
    """

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000
    low_confidence: float = 0.5

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_pixels"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"ServeConfig.{name} must be an integer >= 1, got {value!r}")
        if not 0.0 <= self.low_confidence <= 1.0:
            raise ValueError(f"ServeConfig.low_confidence must be in [0, 1], got "
                             f"{self.low_confidence!r}")


def _chars_json(chars) -> list[dict]:
    return [{"char": c, "probability": round(p, 4)} for c, p in chars]


def _line_json(line: LineReading) -> dict:
    return {"text": line.text, "confidence": round(line.confidence, 4),
            "box": list(line.box) if line.box is not None else None,
            "chars": _chars_json(line.chars)}


def reading_json(reading: ImageReading, width: int, height: int, elapsed_s: float) -> dict:
    """The JSON answer of ``POST /v1/recognize``.

    Keys: ``text`` (the lines joined by ``\\n``), ``confidence`` (mean char probability, in
    [0, 1]), ``chars`` (``{"char", "probability"}`` for every char of every line, in reading
    order, no newline entries), ``lines`` (per line: ``text``, ``confidence``, ``box`` as
    ``[left, top, right, bottom]`` px in the deskewed page or ``null`` for a line image, and its
    ``chars``), ``layout`` (``line`` or ``page``: how the image was read), ``skew_degrees`` (the
    rotation corrected, counter-clockwise), ``width`` and ``height`` (the image, px) and
    ``elapsed_s`` (seconds from decoding to the end of reading, a wait for the model included;
    the upload not).
    """
    return {"text": reading.text, "confidence": round(reading.confidence, 4),
            "chars": _chars_json(reading.chars), "lines": [_line_json(x) for x in reading.lines],
            "layout": reading.layout, "skew_degrees": reading.skew, "width": width,
            "height": height, "elapsed_s": round(elapsed_s, 4)}


class RecognitionService:
    """Decodes request bytes and reads them with one recognizer, safely from many threads.

    Args:
        recognizer: the model.
        config: the limits.
        name: the model's description for ``/v1/info``.
    """

    def __init__(self, recognizer: Recognizer, config: ServeConfig, name: str = "model"):
        self.recognizer = recognizer
        self.config = config
        self.name = name
        self._lock = threading.Lock()

    def recognize(self, data: bytes, layout: str, name: str = "request body") -> dict:
        """Decode and read one image; returns :func:`reading_json`'s answer.

        Raises:
            ImageTooLargeError: over ``max_pixels``.
            ImageError: empty, not an image, truncated.
            ValueError: an unknown ``layout``.
        """
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
        start = time.perf_counter()
        grey = decode_image(data, name, max_pixels=self.config.max_pixels)
        with self._lock:
            reading = self.recognizer.read_images([grey], layout)[0]
        return reading_json(reading, grey.shape[1], grey.shape[0], time.perf_counter() - start)

    def info(self) -> dict:
        """The model and the limits, for ``GET /v1/info``."""
        backend = self.recognizer.backend
        return {"model": self.name, "kind": backend.kind,
                "num_classes": self.recognizer.charset.num_classes,
                "layouts": list(LAYOUTS), "max_bytes": self.config.max_bytes,
                "max_pixels": self.config.max_pixels,
                "low_confidence": self.config.low_confidence}


class _TooLarge(Exception):
    """A request body past the limit (the message says by how much, when it is known)."""


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it passes ``limit`` bytes (before it is all read)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _TooLarge(f"request body is {int(declared):,} bytes, more than the limit of "
                        f"{limit:,}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge(f"request body is over {limit:,} bytes, the limit")
        chunks.append(chunk)
    return b"".join(chunks)


async def _image_bytes(request: Request, limit: int) -> tuple[bytes, str]:
    """``(image bytes, name for messages)`` of a raw or multipart request.

    Raises:
        HTTPException: 413 past ``limit`` bytes; 400 for a multipart form without a
            :data:`MULTIPART_FIELD` file.
    """
    try:
        body = await _read_body(request, limit)
    except _TooLarge as e:
        raise HTTPException(413, str(e)) from None
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        return body, "request body"

    async def replay():  # the body read above, handed to the form parser
        return {"type": "http.request", "body": body, "more_body": False}

    form = await Request(request.scope, replay).form(max_files=1, max_fields=10)
    try:
        upload = form.get(MULTIPART_FIELD)
        if upload is None or isinstance(upload, str):
            raise HTTPException(400, f"multipart form has no file field {MULTIPART_FIELD!r} "
                                     f"(fields: {', '.join(form.keys()) or 'none'})")
        return await upload.read(), f"uploaded file {upload.filename or '(unnamed)'!r}"
    finally:
        await form.close()


def create_app(service: RecognitionService) -> FastAPI:
    """The FastAPI application: the page, ``POST /v1/recognize`` and ``GET /v1/info``."""
    app = FastAPI(title="crnn-toolkit", summary="Chinese text-line and page recognition",
                  docs_url="/docs", redoc_url=None)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")

    @app.get("/v1/info")
    def info() -> dict:
        """The model and the server's limits."""
        return service.info()

    @app.post("/v1/recognize")
    async def recognize(request: Request,
                        layout: str = Query("auto", description="line, page or auto")) -> dict:
        """Read the image in the body (raw bytes, or the multipart field ``file``)."""
        if layout not in LAYOUTS:
            raise HTTPException(400, f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
        data, name = await _image_bytes(request, service.config.max_bytes)
        if not data:
            raise HTTPException(400, f"{name} is empty: send the image's bytes as the body or as "
                                     f"the multipart field {MULTIPART_FIELD!r}")
        try:
            return await run_in_threadpool(service.recognize, data, layout, name)
        except ImageTooLargeError as e:
            raise HTTPException(413, str(e)) from None
        except ImageError as e:
            raise HTTPException(415, str(e)) from None

    return app


def serve(weights_path: str | os.PathLike, host: str = "127.0.0.1", port: int = 8000,
          config: ServeConfig = ServeConfig(), echo=print) -> None:
    """Load a model, then serve the page and the API until interrupted (Ctrl+C).

    Args:
        weights_path: what :meth:`toolkit.predict.Recognizer.from_weights` loads.
        host, port: where to listen (``0.0.0.0`` listens on every interface).
        config: the limits.
        echo: where the start-up line goes.

    Raises:
        CheckpointError, ExportError: for a bad ``weights_path``.
    """
    import numpy as np

    recognizer = Recognizer.from_weights(weights_path)
    recognizer.read_images([np.full((32, 64), 255, np.uint8)], "auto")  # trace the graphs now
    service = RecognitionService(recognizer, config, name=str(weights_path))
    echo(f"serving {weights_path} on http://{host}:{port}/ (API: POST /v1/recognize; Ctrl+C stops)")
    uvicorn.run(create_app(service), host=host, port=port, log_level="info")
