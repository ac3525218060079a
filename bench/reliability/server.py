"""A ``corpus serve`` in a child process, and a client of its ``/ask`` API."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from common import CORPUS, ROOT, rss_mb


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, index: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        # stderr goes to a file: a pipe nobody reads would stop the server once full
        with open(log, "wb") as stderr:
            self.proc = subprocess.Popen([*CORPUS, "serve", "--index", str(index), "--port", str(self.port)], cwd=ROOT,
                                         stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + 180
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"corpus serve ended: {self.log.read_text(errors='replace')[-1000:]}")
            try:
                with urllib.request.urlopen(self.url + "/gradio_api/info", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def rss_mb(self) -> float:
        return round(rss_mb(self.proc.pid), 1)

    def ask(self, question: str, history: list | None = None, timeout: float = 300) -> dict:
        """One call of the API as any HTTP client makes it: submit, then read the event stream."""
        body = json.dumps({"data": [question, history or []]}).encode()
        request = urllib.request.Request(self.url + "/gradio_api/call/ask", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            event_id = json.loads(response.read())["event_id"]
        with urllib.request.urlopen(f"{self.url}/gradio_api/call/ask/{event_id}", timeout=timeout) as response:
            event = None
            for raw in response:
                line = raw.decode().rstrip("\n")
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    data = line.split(":", 1)[1].strip()
                    if event == "error":
                        raise RuntimeError(f"the server answered with an error: {data[:300]}")
                    return json.loads(data)[0]
        raise RuntimeError("the event stream ended without a result")

    def call(self, api: str, data: list, timeout: float = 300) -> tuple[str, str]:
        """Any API route as an HTTP client calls it: the event that ended the call
        (``complete`` or ``error``) and its data, unparsed."""
        body = json.dumps({"data": data}).encode()
        request = urllib.request.Request(f"{self.url}/gradio_api/call/{api}", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            event_id = json.loads(response.read())["event_id"]
        with urllib.request.urlopen(f"{self.url}/gradio_api/call/{api}/{event_id}", timeout=timeout) as response:
            lines = response.read().decode(errors="replace").splitlines()
        events = [line.split(":", 1)[1].strip() for line in lines if line.startswith("event:")]
        data_lines = [line.split(":", 1)[1].strip() for line in lines if line.startswith("data:")]
        return (events[-1] if events else ""), (data_lines[-1] if data_lines else "")

    def close(self) -> str:
        """Stop the server; what it wrote on stderr."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.log.read_text(errors="replace")
