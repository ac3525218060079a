"""Computing the features of :mod:`.analysis`: the passages split into sentences, their
candidates tagged, their words and meaning compared with the question's."""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np

from corpus.split import sentence_spans

from .analysis import SENTENCE_FEATURES, Analysis, Sentence
from .candidates import any_new_entity, is_new, new_candidates
from .entities import Tagger
from .matching import (
    COMPOUND,
    PLACES,
    compound_parts,
    country_aliases,
    share_found,
    soft_matches,
)
from .passages import Passages
from .question import analyse, number_pattern, ordinal_pattern
from .types import Retrieval

#: Fragments shorter than this (captions, credits, datelines) are not quoted on their own.
MIN_SENTENCE_WORDS = 4
MAX_SENTENCES_PER_PASSAGE = 80
#: Words either side of a candidate where the question's head phrase marks it as the answer.
HEAD_WINDOW = 4
#: For a follow-up, the weight of the question as asked against the conversation in meaning.
FOCUS = 0.8

_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="answer-tagger")


def untimed(stage: str) -> contextlib.AbstractContextManager[None]:
    """The timer of an answer nobody times (see :class:`corpus.generation.StageTimer`)."""
    return contextlib.nullcontext()


@functools.lru_cache(maxsize=20_000)
def kept_sentences(text: str) -> tuple[tuple[int, int], ...]:
    """The spans of a passage's sentences that may be quoted (remembered: passages recur across questions)."""
    return tuple((a, b) for a, b in sentence_spans(text) if len(text[a:b].split()) >= MIN_SENTENCE_WORDS)[:MAX_SENTENCES_PER_PASSAGE]


def analyse_retrieval(retrieval: Retrieval, corpus: Passages, tagger: Tagger, embed, timer=untimed) -> Analysis:
    """Split the passages into sentences, tag their candidates and compute every sentence's features.

    ``embed`` maps texts to their :class:`TokenVectors` (the answerer's cached embedder);
    ``timer(stage)`` times each stage (the benchmark's profile of one answer).
    """
    hits = retrieval.passages
    focus = retrieval.question
    query = retrieval.query

    def tag() -> list:
        with timer("tag entities (a thread, beside the embedding)"):
            return tagger.spans([focus, query] + [h.text for h in hits])

    # the tagger runs beside the embedder (both spend their time outside the interpreter lock)
    tagged = _POOL.submit(tag)
    with timer("split sentences"):
        kept = [kept_sentences(h.text) for h in hits]
        texts = [h.text[a:b] for h, spans in zip(hits, kept) for a, b in spans]
        # a sentence is read in its article: "He was arrested in Barstow" says more under its
        # headline (held out, SQuAD: the sentence chosen right 0.785 with the headline, 0.74 without)
        read = [f"{h.title}. {h.text[a:b]}" for h, spans in zip(hits, kept) for a, b in spans]
    with timer("embed the question"):
        qtokens = embed([query, focus] if focus != query else [query]) if texts else []
    with timer("embed the sentences"):
        stokens = embed(read) if texts else []
    qvecs = np.stack([t.pooled for t in qtokens]) if texts else None
    svecs = np.stack([t.pooled for t in stokens]) if texts else None
    with timer("wait for the tagger"):
        spans_of = tagged.result()
    with timer("features"):
        return _features(retrieval, corpus, kept, texts, read, qtokens, stokens, qvecs, svecs, spans_of)


def _features(retrieval: Retrieval, corpus: Passages, kept, texts, read, qtokens, stokens, qvecs, svecs, spans_of) -> Analysis:
    """Every sentence's candidates and features (the second half of :func:`analyse_retrieval`)."""
    hits = retrieval.passages
    focus = retrieval.question
    query = retrieval.query
    info = analyse(focus, spans_of[0])
    if query != focus:  # a follow-up: the names of the conversation are given too
        earlier = analyse(query, spans_of[1])
        info = replace(
            info,
            numbers=info.numbers | earlier.numbers,
            names=tuple(dict.fromkeys(info.names + earlier.names)),
            words=info.words | earlier.words,
            ordinals=info.ordinals | earlier.ordinals,
        )
    paragraph_spans = spans_of[2:]
    exact_found = info.exact is None or any(
        label == info.exact and is_new(hit.text[a:b], info) for hit, spans in zip(hits, paragraph_spans) for a, b, label in spans
    )
    sentences: list[Sentence] = []
    for h_index, hit in enumerate(hits):
        for s_index, (a, b) in enumerate(kept[h_index]):
            cands, labels = new_candidates(hit.text, paragraph_spans[h_index], a, b, info)
            sentences.append(Sentence(h_index, s_index, a, b, cands, any(label in info.wants for label in labels), labels=labels))
    _link_neighbours(sentences, hits)
    n = len(sentences)
    empty = np.zeros(0)
    if not n:
        return Analysis(retrieval, info, [], np.zeros((0, len(SENTENCE_FEATURES))), empty, empty, empty, empty, empty, empty, empty, empty, True, empty, empty)

    semantic = svecs @ qvecs[0]
    if focus != query:
        semantic = FOCUS * (svecs @ qvecs[1]) + (1 - FOCUS) * semantic

    terms = corpus.query_terms(query)
    total = sum(terms.values()) or 1.0
    max_idf = max(terms.values()) if terms else 1.0
    # A word of the question matches the inner parts of a hyphenated word only if it came
    # from one itself: "Who led the rebellion?" is not about "the U.S.-led coalition",
    # while "semi-finals" still meets "semi-final".
    compound = compound_parts(query, corpus)

    def stems(text: str) -> set[str]:
        found = corpus.stems(COMPOUND.sub(lambda m: m.group(0).split("-")[0], text))
        return found | (compound & compound_parts(text, corpus)) if compound else found

    title_stems = [stems(h.title) for h in hits]
    paragraph_stems = [stems(h.text) | title_stems[i] for i, h in enumerate(hits)]
    sentence_stems = [stems(t) for t in texts]

    def share(stems: set[str]) -> float:
        return sum(w for t, w in terms.items() if t in stems) / total

    # the question's words that are not part of a name it gives: its predicate ("chaired", "begins")
    named = set().union(*(corpus.stems(name) for name in info.names)) if info.names else set()
    predicate = {t: w for t, w in terms.items() if t not in named}
    predicate_total = sum(predicate.values()) or 1.0

    def predicate_share(stems: set[str]) -> float:
        return sum(w for t, w in predicate.items() if t in stems) / predicate_total if predicate else 0.0

    wh_stems = corpus.stems(info.wh)  # "mani" of "how many" says nothing of the topic
    soft = soft_matches(qtokens[-1], stokens, read, {t: w for t, w in predicate.items() if t not in wh_stems}, corpus, bool(compound))

    lexical = np.array([share(sentence_stems[i] | title_stems[s.hit_index]) for i, s in enumerate(sentences)])
    lexical_alone = np.array([share(st) for st in sentence_stems])
    predicate_alone = np.array([predicate_share(st) for st in sentence_stems])
    para_share = [share(st) for st in paragraph_stems]
    rarest = []
    for st in paragraph_stems:
        missing = [w for t, w in terms.items() if t not in st]
        rarest.append(max(missing) / max_idf if missing and max_idf > 0 else 0.0)
    # "777s" is the plural of a model name the passages write "777"
    name_stems = [{re.sub(r"^(\d+)s$", r"\1", t) for t in corpus.stems(name)} for name in info.names]
    name_stems = [s for s in name_stems if s]
    any_name_found = any(ns & (st | {re.sub(r"^(\d+)s$", r"\1", t) for t in st}) for ns in name_stems for st in paragraph_stems) if name_stems else True
    asked = set(terms) - wh_stems
    any_term_found = not asked or any(asked & st for st in paragraph_stems)

    def names_covered(stems: set[str]) -> float:
        return sum(1 for ns in name_stems if ns <= stems) / len(name_stems) if name_stems else 1.0

    number_patterns = [number_pattern(num, info.text) for num in info.numbers]

    ordinal_patterns = [ordinal_pattern(o) for o in info.ordinals]

    def numbers_covered(text: str) -> float:
        return share_found(number_patterns, text)

    para_names = [names_covered(st) for st in paragraph_stems]
    para_numbers = [numbers_covered(f"{h.title}\n{h.text}") for h in hits]
    article_stems: dict[tuple[str | None, str], set[str]] = {}
    article_text: dict[tuple[str | None, str], str] = {}
    article_of = [(h.collection, h.article_id) for h in hits]
    for a, h, st in zip(article_of, hits, paragraph_stems):
        article_stems[a] = article_stems.get(a, set()) | st
        article_text[a] = article_text.get(a, h.title) + "\n" + h.text
    art_names = [names_covered(article_stems[a]) for a in article_of]

    # the places the question names ("the capital of France"): a sentence about another place
    # answers nothing. Other names are often written otherwise: over every name the rule
    # declined 35 answers of the SQuAD file it had quoted right ("EU" for the European Union);
    # over places alone the file gives 0.803 in quotes, 0.897 answered, 0.211 declined
    # (0.809 / 0.905 / 0.193 without the rule), BBC dev 0.845 / 0.982 / 0.625.
    places = [focus[a:b] for a, b, label in spans_of[0] if label in PLACES]
    place_words = set().union(*(corpus.stems(place) for place in places)) if places else set()
    for group in country_aliases(corpus):  # "britain" meets "the UK", "US casinos" meets "In America"
        if place_words & group:
            place_words |= group

    def some_place_word(stems: set[str]) -> bool:
        # a word of a place, or one sharing its first five letters: "australian" meets "Australia's"
        if not place_words:  # no place named, or one of stop words only ("US"): nothing to look for
            return True
        heads = {t[:5] for t in stems if len(t) >= 5}
        return any(t in stems or (len(t) >= 5 and t[:5] in heads) for t in place_words)

    art_place_words = [some_place_word(article_stems[a]) for a in article_of]
    art_rarest = [max((w for t, w in terms.items() if t not in article_stems[a]), default=0.0) / 10.0 for a in article_of]
    art_missing = [1.0 - share(article_stems[a]) for a in article_of]
    art_numbers = [numbers_covered(article_text[a]) for a in article_of]
    art_ordinals = [share_found(ordinal_patterns, article_text[a]) for a in article_of]
    wants = 1.0 if info.wants else 0.0
    head_stems = corpus.stems(" ".join(sorted(info.head))) if info.head else set()

    rows = np.zeros((n, len(SENTENCE_FEATURES)))
    prior = retrieval.prior
    for i, s in enumerate(sentences):
        before, after = s.prev, s.next
        neighbour_sem = max(semantic[before] if before is not None else 0.0, semantic[after] if after is not None else 0.0)
        lex_prev = lexical_alone[before] if before is not None else 0.0
        lex_next = lexical_alone[after] if after is not None else 0.0
        near = sentence_stems[i] | title_stems[s.hit_index]
        near_text = texts[i]
        if before is not None:
            near = near | sentence_stems[before]
            near_text = texts[before] + " " + near_text
        if after is not None:
            near = near | sentence_stems[after]
            near_text = near_text + " " + texts[after]
        typed = 1.0 if s.candidates else 0.0
        content = {t for t in sentence_stems[i] if len(t) > 2}
        new_words = len(content - set(terms)) / len(content) if content else 0.0
        hit = hits[s.hit_index]
        any_new = 1.0 if any_new_entity(hit.text, paragraph_spans[s.hit_index], s.start, s.end, info) else 0.0
        context = head = 0.0
        for ca, cb in s.candidates:  # the question's words around a candidate: is it the one asked about?
            window = hit.text[max(s.start, ca - 60) : min(s.end, cb + 60)]
            context = max(context, share(stems(window)))
            if head_stems and not head:  # "design engineer Takuo Miyagishima", "Tommy Schenck, WRAZ-TV's general manager"
                beside = " ".join(hit.text[s.start : ca].split()[-HEAD_WINDOW:] + hit.text[cb : s.end].split()[:HEAD_WINDOW])
                head = 1.0 if head_stems & corpus.stems(beside) else 0.0
        rows[i] = (
            semantic[i],
            neighbour_sem,
            lexical[i],
            lex_prev,
            lex_next,
            para_share[s.hit_index],
            predicate_alone[i],
            max(predicate_alone[before] if before is not None else 0.0, predicate_alone[after] if after is not None else 0.0),
            prior[s.hit_index],
            wants,
            typed,
            1.0 if s.primary else 0.0,
            typed * lexical[i],
            typed * lex_prev,
            context,
            head,
            wants * (1.0 - typed),
            new_words,
            any_new,
            min(len(texts[i].split()), 80) / 40.0,
            1.0 if s.index == 0 else 0.0,
            names_covered(near),
            numbers_covered(hit.title + "\n" + near_text),
            soft[i, 0],
            soft[i, 1],
        )
    by_hit = np.array([s.hit_index for s in sentences])
    return Analysis(
        retrieval,
        info,
        sentences,
        rows,
        semantic,
        np.array(para_share)[by_hit],
        np.array(para_names)[by_hit],
        np.array(para_numbers)[by_hit],
        np.array(rarest)[by_hit],
        rows[:, SENTENCE_FEATURES.index("typed_candidate")],
        np.array(art_names)[by_hit],
        np.array(art_numbers)[by_hit],
        any_name_found,
        np.array(art_rarest)[by_hit],
        np.array(art_missing)[by_hit],
        any_term_found,
        np.array(art_ordinals)[by_hit],
        exact_found,
        np.array(art_place_words)[by_hit],
        tuple(dict.fromkeys(places)),
    )


def _link_neighbours(sentences: list[Sentence], hits: Sequence) -> None:
    """Set each sentence's ``prev`` and ``next``: the sentences beside it in its paragraph,
    and across paragraphs of one article when both paragraphs are among the passages."""
    first: dict[tuple[str | None, str, int], int] = {}
    last: dict[tuple[str | None, str, int], int] = {}
    for i, s in enumerate(sentences):
        key = (hits[s.hit_index].collection, hits[s.hit_index].article_id, hits[s.hit_index].paragraph)
        first.setdefault(key, i)
        last[key] = i
    for i, s in enumerate(sentences):
        hit = hits[s.hit_index]
        if i > 0 and sentences[i - 1].hit_index == s.hit_index:
            s.prev = i - 1
        elif hit.paragraph is not None:
            s.prev = last.get((hit.collection, hit.article_id, hit.paragraph - 1))
        if i + 1 < len(sentences) and sentences[i + 1].hit_index == s.hit_index:
            s.next = i + 1
        elif hit.paragraph is not None:
            s.next = first.get((hit.collection, hit.article_id, hit.paragraph + 1))


