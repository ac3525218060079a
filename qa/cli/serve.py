"""``corpus serve``: the browser chat."""

from __future__ import annotations

import ipaddress
import logging
import socket
from pathlib import Path
from typing import Annotated

import typer

from .app import DEFAULT_INDEX, IndexesOption, app, err, open_indexes, user_errors


@app.command()
def serve(
    index: IndexesOption = None,
    indexes: Annotated[Path, typer.Option("--indexes", help="Without --index: serve every index in this folder (the chat lets one choose).")] = Path("indexes"),
    host: Annotated[str, typer.Option(help="Address to bind; anything but loopback exposes the chat to the network.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 7860,
) -> None:
    """The chat in the browser, at http://HOST:PORT: over every index in the indexes folder, or those given."""
    from qa.chat import warm_up
    from qa.collections import find_indexes

    if not _is_loopback(host):
        err.print(f"warning: binding {host} makes the chat reachable from other machines", markup=False)
    with user_errors():
        lib = open_indexes(index or [str(p) for p in find_indexes(indexes)] or [DEFAULT_INDEX])
        if not _port_free(host, port):
            raise ValueError(f"port {port} on {host} is in use; choose another with --port")
    warm_up(lib)  # the models load while Gradio is imported and the page is built
    from ui.app import launch

    # the server's log: one line per warning (a refused request, a model that would not load)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    err.print(f"chat at http://{host}:{port}  (Ctrl+C to stop)", markup=False)
    launch(lib, host=host, port=port, warm=False)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True
