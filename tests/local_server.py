"""A real HTTP server on 127.0.0.1, in a thread, for the download tests (weights, data sets, detector boxes).

``LocalServer(files)`` serves ``files`` (URL path -> bytes) over HTTP/1.0 and honours ``Range: bytes=N-`` (206,
or 416 past the end) unless ``ignore_range`` is set; ``drop_after`` cuts the next answer after that many bytes
(one-shot: a cut connection), ``delay`` slows each 16 KiB block; ``requests`` logs every request (path, Range
header, bytes sent). Used by ``tests/weights/test_download.py`` and ``tests/datasets/test_fetch.py``.
"""

from __future__ import annotations

import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["LocalServer"]


class _Handler(BaseHTTPRequestHandler):
    """Serves ``server.files``; honours ``Range: bytes=N-`` unless the server is told to ignore it."""

    server: LocalServer

    def do_GET(self):  # noqa: N802 - the name http.server calls
        srv = self.server
        rng = self.headers.get("Range")
        entry = {"path": self.path, "range": rng, "sent": 0}
        with srv.lock:
            srv.requests.append(entry)
        body = srv.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        if rng and not srv.ignore_range:
            m = re.fullmatch(r"bytes=(\d+)-", rng)
            assert m, rng
            start = int(m[1])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        rest = body[start:]
        with srv.lock:
            drop, srv.drop_after = srv.drop_after, None  # one-shot: the next request gets the whole answer
        if drop is not None:
            rest = rest[:drop]
        for i in range(0, len(rest), 16 * 1024):
            self.wfile.write(rest[i:i + 16 * 1024])
            entry["sent"] += len(rest[i:i + 16 * 1024])
            if srv.delay:
                time.sleep(srv.delay)
        self.wfile.flush()
        # returning closes the connection (HTTP/1.0): after a drop, the client sees a short body

    def log_message(self, format, *args):  # keep the test output clean
        pass


class LocalServer(ThreadingHTTPServer):
    """The server; ``url(path)`` is its address, ``stop()`` shuts it down (also safe to call twice)."""

    daemon_threads = True

    def __init__(self, files: dict[str, bytes] | None = None):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, bytes] = dict(files or {})
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.ignore_range = False
        self.drop_after: int | None = None
        self.delay = 0.0
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        """``http://127.0.0.1:PORT``, e.g. for ``KBENCH_MIRROR``."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def stop(self):
        if self.thread.is_alive():
            self.shutdown()
            self.thread.join(timeout=5)
        self.server_close()
