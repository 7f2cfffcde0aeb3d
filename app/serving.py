"""Serving an ASGI app of ours (the console, the webhook receiver) with uvicorn, the same way."""

from __future__ import annotations

import uvicorn
from starlette.applications import Starlette


def serve(app: Starlette, host: str, port: int) -> None:
    """Until Ctrl-C; no `server` header (it says nothing a caller needs)."""
    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False)
