"""Example questions for the chat, made from the corpus in front of the user.

A question is made from the first sentence of an article's lead paragraph (where a
news story says what happened) by asking for its subject: "Former WorldCom chief
Bernie Ebbers has denied claims …" gives "Who has denied claims …?", "Another three
US insurance executives have pleaded guilty …" gives "How many US insurance
executives have pleaded guilty …?". Each question is then asked, and kept only when
the answerer answers it from the paragraph it was made from: an example never
leads to a decline. The seed article keeps its hand-written questions (checked the
same way). What was made is kept in the cache per index generation, so a restart
does not make them again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from corpus.embed import cache_dir
from corpus.errors import CorpusError
from corpus.split import sentence_spans

from .answer.question import is_agent_noun

log = logging.getLogger(__name__)

#: The seed article's title, and the questions written for it.
SEED_TITLE = "ISIS Quashes Mosul Rebellion That Aimed to Give City Back to Baghdad By Drowning Dissenters"
SEED_EXAMPLES = (
    "How many people did ISIS execute?",
    "Who led the rebellion?",
    "Where were the weapons stored?",
    "What did Abadi say in his radio broadcast?",
)

#: Articles whose lead sentences are tried, spread evenly over the corpus.
ARTICLES_TRIED = 40
#: Questions asked at most to find the examples (each is one answer).
QUESTIONS_TRIED = 16
MAX_WORDS = 16
#: The entity labels of a subject asked for with "Who".
_WHO = {"PERSON", "ORG", "NORP"}
#: Auxiliaries agreeing with a plural subject, as they read after "Who" or "What".
_SINGULAR = {"have": "has", "are": "is", "were": "was", "do": "does"}
#: Verbs whose subject is a person even when it is not named ("the coach believes …").
_PERSONAL_VERBS = {"say", "believe", "think", "claim", "warn", "tell", "admit", "deny", "insist", "argue", "want", "hope", "vow", "urge", "expect", "fear", "feel", "know", "plead"}
_VERSION = 2


def example_questions(library, n: int = 4) -> list[str]:
    """Up to ``n`` questions the answerer answers from the corpus of ``library`` (a
    :class:`qa.Library` or :class:`qa.Collections`), cached per generation."""
    key = _cache_key(library, n)
    cached = _read_cache(key)
    if cached is not None:
        return cached
    started = time.perf_counter()
    found = _verified(library, _candidates(library), n)
    log.info("%d example questions made in %.1f s", len(found), time.perf_counter() - started)
    _write_cache(key, found)
    return found


def _candidates(library) -> Iterable[tuple[str, str | None, str, int]]:
    """``(question, collection, article id, paragraph)``: the seed's own questions first, then
    those made from lead sentences, one article after another."""
    articles = _sampled_articles(library)
    for collection, article_id in articles:
        lead = _lead(library, article_id, collection)
        if lead is not None and lead.title == SEED_TITLE:
            for question in SEED_EXAMPLES:
                yield question, collection, article_id, -1  # from any of its paragraphs
    nlp = _parser()
    if nlp is None:
        return
    for collection, article_id in articles:
        lead = _lead(library, article_id, collection)
        if lead is None or lead.title == SEED_TITLE:
            continue
        a, b = sentence_spans(lead.text)[0]
        question = subject_question(nlp(lead.text[a:b]))
        if question:
            yield question, collection, article_id, lead.paragraph


def _verified(library, candidates: Iterable[tuple[str, str | None, str, int]], n: int) -> list[str]:
    found: list[str] = []
    used: set[tuple[str | None, str, int]] = set()
    for tried, (question, collection, article_id, paragraph) in enumerate(candidates):
        if len(found) >= n or tried >= QUESTIONS_TRIED + len(SEED_EXAMPLES):
            break
        try:
            answer = library.ask(question)
        except CorpusError:
            continue
        if not answer.answered:
            continue
        hit = answer.quotes[0].hit
        place = (hit.collection, hit.article_id, hit.paragraph)
        other_collection = collection is not None and hit.collection != collection
        if hit.article_id != article_id or other_collection or (paragraph > 0 and hit.paragraph != paragraph) or place in used:
            continue
        used.add(place)
        found.append(question)
    return found


def _sampled_articles(library) -> list[tuple[str | None, str]]:
    """Up to :data:`ARTICLES_TRIED` articles, ``(collection, id)``, spread evenly over every collection."""
    from .collections import Collections

    members = [library[name] for name in library.names] if isinstance(library, Collections) else [library]
    pools = [[(m.name if len(members) > 1 else None, a) for a in m.article_ids()] for m in members]
    per = max(1, ARTICLES_TRIED // max(1, len(pools)))
    # evenly over each collection's sorted ids, then in an order of their own (a hash of the id),
    # so that the first examples found do not all come from the first folder
    sampled = [sorted((pool[i * len(pool) // min(per, len(pool))] for i in range(min(per, len(pool)))), key=_shuffled) for pool in pools]
    # interleaved, so that every collection has its turn early
    return [group[i] for i in range(max((len(g) for g in sampled), default=0)) for group in sampled if i < len(group)]


def _shuffled(item: tuple[str | None, str]) -> str:
    return hashlib.sha1(item[1].encode()).hexdigest()


def _lead(library, article_id: str, collection: str | None):
    """The article's lead: its first paragraph of at least twelve words (after captions and datelines)."""
    hits = library.article_hits(article_id, collection=collection) if collection else library.article_hits(article_id)
    return next((h for h in hits if len(h.text.split()) >= 12 and sentence_spans(h.text)), None)


def subject_question(sentence) -> str | None:
    """A question asking for the subject of a parsed sentence (a spaCy ``Doc`` or ``Span``), or None.

    "Who" for a named person or organisation, "How many" for a counted subject, "What"
    for a singular thing; the predicate is kept as written up to the first comma.
    """
    root = next((t for t in sentence if t.dep_ == "ROOT"), None)
    if root is None or root.pos_ not in ("VERB", "AUX") or root.tag_ not in ("VBD", "VBZ", "VBN", "VBP"):
        return None
    subject = next((t for t in root.children if t.dep_ in ("nsubj", "nsubjpass")), None)
    if subject is None or subject.pos_ == "PRON":
        return None
    start, end = subject.left_edge.i, subject.right_edge.i + 1
    if start != sentence[0].i:  # something before the subject ("In 2004, …"): keep it simple
        return None
    counted = next((t for t in subject.children if t.dep_ == "nummod" and t.ent_type_ == "CARDINAL" and t.i < subject.i), None)
    entity = subject.ent_type_
    if counted is not None:
        words = [t.text for t in sentence[counted.i + 1 : subject.i + 1]]
        head = "How many " + " ".join(words)
    elif entity in _WHO or is_agent_noun(subject.text):  # "the county council approved …": who did
        head = "Who"
    elif subject.tag_ == "NN" and not entity:
        head = "What"
    else:
        return None
    if head == "What" and root.lemma_.lower() in _PERSONAL_VERBS:  # "What believes …" asks for a person
        return None
    rest = []
    depth = 0
    for token in sentence[end:]:
        if token.text in "([":
            depth += 1
        elif token.text in ")]":
            depth = max(0, depth - 1)
        elif depth:  # an aside in brackets is left out: "$3.25bn (£1.7bn) takeover offer"
            continue
        elif token.is_punct and token.text in {",", ";", ":", "—", "–", ".", "?", "!"} or token.text in {'"', "“", "”"}:
            break
        else:
            rest.append(token)
    if not rest or root not in rest:
        return None
    words = [t.text_with_ws for t in rest]
    if head in ("Who", "What") and rest[0].text in _SINGULAR:  # "Who have" → "Who has"
        words[0] = _SINGULAR[rest[0].text] + rest[0].whitespace_
    predicate = "".join(words).strip()
    question = f"{head} {predicate}?"
    if len(question.split()) > MAX_WORDS or len(rest) < 3:
        return None
    return question


_nlp = None
_nlp_lock = threading.Lock()


def _parser():
    """spaCy's English pipeline with its parser (the answerer's tagger leaves the parser out), or None."""
    global _nlp
    with _nlp_lock:
        if _nlp is None:
            from .answer.entities import NER_MODELS, _import_spacy

            try:
                spacy = _import_spacy()
            except ImportError:
                _nlp = False
                return None
            for name in NER_MODELS:
                try:
                    _nlp = spacy.load(name)
                    break
                except (OSError, ImportError, ValueError):
                    continue
            else:
                _nlp = False
        return _nlp or None


def _cache_key(library, n: int) -> str:
    from .collections import Collections

    members = [library[name] for name in library.names] if isinstance(library, Collections) else [library]
    parts = [f"{m.name}|{m.location}|{m.generation}" for m in members]
    return hashlib.sha256(json.dumps([_VERSION, n, parts]).encode()).hexdigest()[:24]


def _cache_file(key: str) -> Path:
    return cache_dir() / "examples" / f"{key}.json"


def _read_cache(key: str) -> list[str] | None:
    try:
        data = json.loads(_cache_file(key).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, list) and all(isinstance(q, str) for q in data) else None


def _write_cache(key: str, questions: list[str]) -> None:
    file = _cache_file(key)
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        draft = file.with_name(f".{file.name}.{threading.get_ident()}")
        draft.write_text(json.dumps(questions), encoding="utf-8")
        draft.replace(file)
    except OSError as exc:
        log.warning("example questions not kept in %s: %s", file.parent, exc)
