"""The manifest every index generation carries, whatever its engine: its format, and the
model it was built with (checked whenever an index is opened)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .embed import model_fingerprint
from .errors import IndexCorruptError, ModelMismatchError

FORMAT = "corpus-qa-index"
FORMAT_VERSION = 3
#: the int8 encoder exported for an index built with ``--encoder onnx-int8``, kept in its generation
ENCODER_FILE = "encoder-int8.onnx"


def read_manifest_data(text: str, where: str) -> dict[str, Any]:
    """A manifest from its JSON text, checked to be one this version reads."""
    try:
        manifest = json.loads(text)
    except ValueError as exc:
        raise IndexCorruptError(f"{where} cannot be read: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise IndexCorruptError(f"{where} is not a corpus-qa manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexCorruptError(
            f"index format {manifest.get('format_version')} is not supported (this version reads {FORMAT_VERSION}); "
            "rebuild it with `corpus build --rebuild`"
        )
    return manifest


def resolve_model_path(manifest: dict[str, Any], model: str | os.PathLike[str] | None) -> str | None:
    """The model folder to use with an index, checked against its manifest.

    ``model`` (if given) must be the model that built the index. Without it,
    the manifest's path is used, or the bundled model when the index was built
    with it and the path moved (another virtual environment, say).
    """
    recorded = manifest["model"]
    if model is not None:
        path = Path(model)
        if not path.is_dir():
            raise ModelMismatchError(f"model folder not found: {model}")
        if model_fingerprint(path) != recorded["fingerprint"]:
            raise ModelMismatchError(
                f"the index was built with the model {recorded['name']!r}, not {str(model)!r}; "
                "search with that model or rebuild with `corpus build --rebuild --model ...`"
            )
        return str(path)
    if Path(recorded["path"]).is_dir() and model_fingerprint(Path(recorded["path"])) == recorded["fingerprint"]:
        return recorded["path"]
    from .embed import DEFAULT_MODEL_NAME, default_model_path

    bundled = default_model_path()
    if recorded["name"] == DEFAULT_MODEL_NAME and model_fingerprint(bundled) == recorded["fingerprint"]:
        return None
    raise ModelMismatchError(
        f"the index was built with the model {recorded['name']!r} ({recorded['path']}), which is not available here "
        "or has changed; pass it with --model or rebuild with `corpus build --rebuild`"
    )
