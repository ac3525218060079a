"""Extractive answers: verbatim quotes from the best passages, each with a numbered citation.

The package reads in stages, each a module:

- :mod:`.question`: what a question asks for (a person, a date, an amount…),
  the names and numbers it takes as given, and follow-ups in a conversation;
- :mod:`.entities`: candidate answers in the passages (spaCy's entity
  recogniser, with rules for what it misses);
- :mod:`.candidates`: the words of a sentence of the asked-for kind, and the
  one of them shown in bold;
- :mod:`.matching`: how a sentence's words meet the question's (in context,
  hyphenated, countries named several ways);
- :mod:`.analysis`: what the models read, one row of features per sentence
  and per question, and the reasons the evidence gives to decline;
  :mod:`.features` computes them;
- :mod:`.model`: two small logistic models (which sentence answers; whether
  the passages answer at all), trained by ``python -m qa.eval.train``;
- :mod:`.answerer`: the quotes, the answer span, the confidence;
- :mod:`.render`: the answer as Markdown and the one wording of a decline.

It depends on a corpus only through :class:`.passages.Passages` (search,
token embeddings, query terms, stems), which :class:`qa.Library` provides.
"""

from __future__ import annotations

from .answerer import MAX_QUOTES, PASSAGES, Answerer, Draft
from .passages import Passages
from .question import conversation_turns, normalize, resolve_followup
from .render import CLOSEST, NOT_IN_CORPUS, marked_quote, md_escape, render_quotes, snippet
from .types import Answer, Quote, Retrieval, Source

__all__ = [
    "CLOSEST",
    "MAX_QUOTES",
    "NOT_IN_CORPUS",
    "PASSAGES",
    "Answer",
    "Answerer",
    "Draft",
    "Passages",
    "Quote",
    "Retrieval",
    "Source",
    "conversation_turns",
    "marked_quote",
    "md_escape",
    "normalize",
    "render_quotes",
    "resolve_followup",
    "snippet",
]
