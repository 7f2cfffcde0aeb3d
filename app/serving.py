"""Serving an ASGI app of ours (the console, the webhook receiver) with uvicorn, the same way."""

from __future__ import annotations

import socket

import uvicorn
from starlette.applications import Starlette

from shared.errors import UserError


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that a bad address or a port in use is one line and
    exit 2 (uvicorn would log it and exit 1 or 3)."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise UserError(f"cannot listen on {where}: {_why(exc)}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise UserError(f"cannot listen on {where}: {_why(exc)}") from None
    return sock


def _why(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def serve(app: Starlette, sock: socket.socket) -> None:
    """Until Ctrl-C, on a socket from `listen`; no `server` header (it says nothing a caller
    needs)."""
    config = uvicorn.Config(app, log_level="warning", server_header=False)
    uvicorn.Server(config).run(sockets=[sock])
