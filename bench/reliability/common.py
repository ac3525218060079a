"""What the reliability trials share: paths, the corpora they use, process memory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
BBC = DATA / "bbc_news" / "bbc"
SEEDS = ROOT / "seeds"
#: Indexes and source copies the trials make (git-ignored, kept between runs where said).
WORK = ROOT / "indexes" / "reliability"
#: The ``corpus`` command of the environment running the trials.
CORPUS = [str(Path(sys.executable).parent / "corpus")]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def rss_mb(pid: int) -> float:
    """Resident memory of a process (and not its children), in MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise ValueError(f"no VmRSS for {pid}")


def corpus(*args: str, timeout: float = 900, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Run the ``corpus`` command in a child process."""
    result = subprocess.run([*CORPUS, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise RuntimeError(f"corpus {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return result


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def copy_of_bbc(name: str, index: Path) -> tuple[Path, Path, Path]:
    """A trial's own folder, with copies of the BBC articles and of ``index`` (updated to
    read the copy): the folder, the articles, the index."""
    base = fresh(WORK / name)
    sources, copy = base / "bbc", base / "index"  # named as the original: article ids start with it
    shutil.copytree(BBC, sources)
    shutil.copytree(index, copy, symlinks=True)
    corpus("build", str(sources), "--index", str(copy), "--json")
    return base, sources, copy


class Clock:
    def __init__(self) -> None:
        self.start = time.monotonic()

    def seconds(self) -> float:
        return round(time.monotonic() - self.start, 1)
