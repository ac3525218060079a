"""How this package's thread pools share the machine's cores with other processes.

The encoder (PyTorch) and FAISS run OpenMP thread teams, whose idle threads spin
at every barrier by default. Two such processes on one machine (a build beside a
server, or two builds) then spend their time spinning for each other: measured on
two cores, two encoders side by side each ran at 0.37 of one alone's speed (23
against 63 pieces a second), their sum 27% below one alone. With OpenMP's
passive wait policy each runs at 0.53 (35 against 66: alone it is no slower), so
together they do as much as one alone. ONNX Runtime's own pool is told not to
spin either (see :mod:`corpus.embed.onnx`).

The policy is read once, when an OpenMP runtime starts, so it is set when this
package is imported, before PyTorch or FAISS load; a value already in the
environment is kept.
"""

from __future__ import annotations

import os


def share_cores() -> None:
    """Make OpenMP's idle threads sleep instead of spinning (unless told otherwise)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
