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
    auth: Annotated[list[str] | None, typer.Option("--auth", help="A login USER:PASSWORD for the chat and the API (repeatable); needed for a --host other than loopback. Visible in the process list: prefer --auth-file.")] = None,
    auth_file: Annotated[Path | None, typer.Option("--auth-file", help="A file of logins, one USER:PASSWORD per line, and token=TOKEN for the API.")] = None,
    api_token: Annotated[str | None, typer.Option("--api-token", envvar="CORPUS_API_TOKEN", help="The API's bearer token (or $CORPUS_API_TOKEN, or token= in the auth file).")] = None,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="Serve a --host other than loopback to everyone, without a login (warns).")] = False,
    watch: Annotated[bool, typer.Option("--watch", help="Keep every served index built from its sources: build again a moment after they change.")] = False,
) -> None:
    """The chat in the browser, at http://HOST:PORT: over every index in the indexes folder, or those given."""
    from qa.chat import warm_up
    from qa.collections import find_indexes
    from ui.auth import access as read_access

    shared = not _is_loopback(host)
    with user_errors():
        logins = read_access(auth, auth_file, api_token)
        if no_auth and logins.required:
            raise ValueError("--no-auth contradicts --auth, --auth-file and --api-token; give one or the other")
        if shared and not no_auth and not logins.users:
            raise ValueError(f"serving on {host} shares every document of the index: give logins with --auth USER:PASSWORD or --auth-file FILE, or --no-auth to serve everyone")
    if shared:
        err.print(f"warning: binding {host} makes the chat reachable from other machines", markup=False)
        if no_auth:
            err.print(f"warning: --no-auth: anyone who can reach {host}:{port} reads every document in the index", markup=False)
    with user_errors():
        lib = open_indexes(index or [str(p) for p in find_indexes(indexes)] or [DEFAULT_INDEX])
        if not _port_free(host, port):
            raise ValueError(f"port {port} on {host} is in use; choose another with --port")
    if watch:
        with user_errors():
            _watch(lib)
    warm_up(lib)  # the models load while Gradio is imported and the page is built
    from ui.app import launch

    # the server's log: one line per warning (a refused request, a model that would not load)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    err.print(f"chat at http://{host}:{port}  (Ctrl+C to stop)", markup=False)
    launch(lib, host=host, port=port, warm=False, access=logins if logins.required else None)


def _watch(lib) -> None:
    """A watcher for each served index (over the sources its manifest records), in the background."""
    from corpus.watch import Watcher
    from qa.collections import Collections

    for member in list(lib) if isinstance(lib, Collections) else [lib]:
        watcher = Watcher(member.location, member.manifest.get("sources") or None,
                          on_build=lambda report: err.print(f"rebuilt {report.index}: {report.articles:,} articles ({report.new_articles} new, {report.changed_articles} changed, "
                                                            f"{report.removed_articles} removed) in {report.seconds:.1f} s", markup=False) if not report.up_to_date else None,
                          on_error=lambda message: err.print(f"error: {message}", markup=False),
                          on_ready=lambda sources=", ".join(member.manifest.get("sources") or []), name=member.name: err.print(f"watching {sources} for {name}", markup=False))
        watcher.start()


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
