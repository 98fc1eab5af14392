"""Serve a built leaderboard site on localhost, for a look: Python's own static file server, nothing else.

The site needs no server (it works from ``file://``); this exists so that ``data.json`` and the pages can be
opened the way a static host would serve them. Bound to 127.0.0.1 by default: the site may name machines
and paths that are nobody else's business.
"""

from __future__ import annotations

import functools
import http.server
import os
import sys
import threading
from pathlib import Path
from typing import TextIO

from kbench.errors import InputError

__all__ = ["make_server", "serve", "QuietHandler"]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Static files from the site folder; one short log line per request on the given stream."""

    log_stream: TextIO | None = None

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's signature
        """Log to :attr:`log_stream` (None: stay silent) instead of stderr."""
        if self.log_stream is not None:
            self.log_stream.write(f"{self.address_string()} {format % args}\n")

    def end_headers(self) -> None:
        """Ask browsers not to cache: a rebuilt site must show at once."""
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


def _check_site(directory: Path) -> Path:
    if directory.is_dir() and not os.access(directory, os.R_OK | os.X_OK):
        raise InputError(f"{directory}: permission denied (cannot read the site's folder)")
    if not directory.is_dir():
        raise InputError(f"{directory}: no such folder; build the site first: kbench leaderboard build --out "
                         f"{directory}")
    if not (directory / "index.html").is_file():
        raise InputError(f"{directory}: no index.html; is it a leaderboard site? (kbench leaderboard build --out "
                         f"{directory})")
    return directory


def make_server(directory: str | os.PathLike, port: int = 8000, host: str = "127.0.0.1",
                log: TextIO | None = None) -> http.server.ThreadingHTTPServer:
    """A threading HTTP server for ``directory``, bound but not yet serving.

    Args:
        directory: the site folder (must hold ``index.html``).
        port: TCP port; 0 picks a free one (read it from ``server.server_address``).
        host: interface to bind.
        log: where request lines go (None: nowhere).

    Raises:
        InputError: no site there, or the port cannot be bound.
    """
    site = _check_site(Path(directory))
    handler = type("SiteHandler", (QuietHandler,), {"log_stream": log})
    try:
        return http.server.ThreadingHTTPServer((host, port), functools.partial(handler, directory=str(site)))
    except OSError as exc:
        raise InputError(f"cannot serve on {host}:{port}: {exc.strerror or exc}; choose another --port") from None


def serve(directory: str | os.PathLike, port: int = 8000, host: str = "127.0.0.1", *, out: TextIO | None = None,
          ready: threading.Event | None = None) -> int:
    """Serve ``directory`` until Ctrl-C; prints the URL first.

    Args:
        directory: the site folder.
        port: TCP port (0: any free one).
        host: interface to bind (default: loopback only).
        out: where the URL and request lines are printed (default: stdout).
        ready: set once the server listens (for callers that run it in a thread).

    Returns:
        0 after Ctrl-C.
    """
    out = out or sys.stdout
    server = make_server(directory, port, host, log=out)
    bound_host, bound_port = server.server_address[:2]
    print(f"serving {Path(directory)} at http://{bound_host}:{bound_port}/ (Ctrl-C stops)", file=out, flush=True)
    if ready is not None:
        ready.set()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", file=out, flush=True)
    finally:
        server.server_close()
    return 0
