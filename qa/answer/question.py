"""What a question asks for, what it takes as given, and how a follow-up joins its conversation."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from corpus.errors import QueryError

# Entity labels (spaCy's OntoNotes scheme; the rule tagger uses the same names).
PERSON = frozenset({"PERSON"})
#: "who" asks for a person, named or described ("an ISIS commander"); a name the tagger
#: could not type counts too. Organisations are accepted as candidates, not preferred.
WHO = frozenset({"PERSON", "PERSON_NOUN", "NAME"})
GROUP = frozenset({"ORG", "NORP"})
PLACE = frozenset({"GPE", "LOC", "FAC"})
WHEN = frozenset({"DATE", "TIME"})
COUNT = frozenset({"CARDINAL", "QUANTITY"})
AMOUNT = frozenset({"MONEY", "QUANTITY", "PERCENT", "CARDINAL"})
MEASURE = frozenset({"QUANTITY", "CARDINAL", "PERCENT", "MONEY"})
DURATION = frozenset({"DATE", "TIME", "QUANTITY", "CARDINAL"})
NAME = frozenset({"PERSON", "ORG", "GPE", "LOC", "FAC", "PRODUCT", "WORK_OF_ART", "EVENT", "LAW", "NORP", "LANGUAGE"})

_PERSON_NOUNS = frozenset(
    """person people man men woman women player players manager managers coach actor actress actors singer singers
    director directors minister ministers chancellor president leader leaders chief boss star stars striker author
    designer jeweller executive chairman chairwoman owner founder spokesman spokeswoman candidate candidates mp mps
    rapper musician judge secretary winner winners presenter comedian writer artist artists politician politicians
    captain champion champions boxer golfer driver rider runner athlete athletes midfielder defender goalkeeper
    forward batsman bowler producer official officials analyst economist governor mayor king queen prince princess
    pope bishop lawyer barrister detective officer soldier chef model models gamer gamers husband wife son daughter
    father mother brother sister child children boy girl teenager fan fans member members opponent rival successor
    predecessor replacement head editor journalist reporter photographer investor entrepreneur tycoon billionaire
    scientist researcher professor doctor expert""".split()
)
_GROUP_NOUNS = frozenset(
    """team teams club clubs company companies firm firms group groups band bands publisher publishers agency agencies
    organisation organization organisations organizations bank banks party parties network networks channel channels
    station stations broadcaster broadcasters studio studios label labels newspaper newspapers magazine paper airline
    airlines retailer retailers carrier carriers maker makers manufacturer manufacturers operator operators charity
    charities union unions council body bodies university universities school schools side sides regulator regulators
    firm's developer developers supermarket supermarkets chain chains brand brands giant giants rival rivals insurer
    insurers partner partners buyer bidder bidders consortium investors fund funds watchdog court committee
    department ministry government""".split()
)
_PLACE_NOUNS = frozenset(
    """city cities country countries town towns seat seats region regions state states nation nations venue venues
    stadium island islands area areas constituency county capital ground grounds place places continent province
    district village street building hospital airport port""".split()
)
_WHEN_NOUNS = frozenset("year years date dates day days month months time decade century season week era".split())
_MONEY_NOUNS = frozenset("price prices cost costs fee fees amount sum salary fine bill value fund budget profit profits revenue revenues sales deal".split())
_PERCENT_NOUNS = frozenset("percentage percent proportion share rate".split())
_COUNT_NOUNS = frozenset("number".split())

_WH_WORDS = frozenset("what who whom whose which when where why how".split())
_CLITIC_HOSTS = frozenset("it that there here he she".split())
_WORD = re.compile(r"[\w'’]+", re.UNICODE)
# numbers and years as the question writes them; a decade ("the 80s") is not one, nor an
# ordinal ("18th": see ordinals)
_NUMBER = re.compile(r"(?:\d[\d,.]*\d|\d)(?!\d|s\b|'s\b|st\b|nd\b|rd\b|th\b)")

_ORDINAL_WORDS = (
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth "
    "fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth"
).split()
_ROMAN = "I II III IV V VI VII VIII IX X XI XII XIII XIV XV XVI XVII XVIII XIX XX".split()
_ORDINAL_POWERS = {"hundredth": 100, "thousandth": 1000, "millionth": 10**6, "billionth": 10**9}
_ORDINAL = re.compile(r"\b(?:" + "|".join(_ORDINAL_WORDS + list(_ORDINAL_POWERS)) + r"|\d+(?:st|nd|rd|th))\b", re.IGNORECASE)


@dataclass(frozen=True)
class QuestionInfo:
    """A question as the answerer reads it."""

    text: str
    wh: str  # who, when, where, how many, how much, which, what, why, how, other
    wants: frozenset[str]  # entity labels an answer would have; empty when the question does not say
    numbers: frozenset[str]  # numbers and years the question names ("2005", "146,000")
    names: tuple[str, ...]  # proper names it names, as written ("Adam Ingram", "UKIP")
    words: frozenset[str]  # its words, lower case (to tell which candidates are new information)
    #: the words that name what is asked for ("design engineer" of "Which design engineer…",
    #: "general manager" of "Who is the general manager of…"): news writes them beside the answer
    head: frozenset[str] = frozenset()
    #: ordinals it takes as given, as written ("second" of "its second share offering", "18th")
    ordinals: frozenset[str] = frozenset()
    #: the label every answer must carry, for the kinds the tagger marks reliably: "MONEY"
    #: for what something cost or was paid, "PERCENT" for a percentage; else None
    exact: str | None = None


def analyse(question: str, entities: Sequence[tuple[int, int, str]] = ()) -> QuestionInfo:
    """The wh-word, the answer type asked for, and the specifics a question takes as given.

    ``entities`` are the question's own entity spans, if a tagger found any.
    """
    lowered = lower_words(question)
    words = frozenset(lowered)
    wh, wants = _answer_type(lowered)
    names = _names(question, entities)
    head = _head(lowered)
    return QuestionInfo(question, wh, wants, frozenset(_NUMBER.findall(question)), names, words, head, ordinals(question), exact_label(question))


#: "how much" asked of a payment, a cost or a price wants a sum of money ...
_MONEY_ASKED = re.compile(
    r"\bhow much\b.*\b(?:money|pay|paid|pays|paying|cost|costs|costing|spend|spent|spends|spending|charge|charged|charges|"
    r"earn|earned|earns|fined|fee|fees|price|worth|bid|(?:sell|sold|buy|bought|go|went)\s+(?:\w+\s+)?for)\b",
    re.IGNORECASE,
)
#: ... unless it asks by how much a figure changed (a share or a number of points will do)
_CHANGE_ASKED = re.compile(
    r"\bby how much\b|\b(?:increase|increased|rise|rose|risen|fall|fell|fallen|grow|grew|grown|boost|boosted|drop|dropped|cut|raise|raised)\b",
    re.IGNORECASE,
)
_PERCENT_ASKED = re.compile(r"\b(?:what|which)\s+(?:percentage|percent)\b", re.IGNORECASE)


def exact_label(question: str) -> str | None:
    """The entity label an answer must carry when the question names the kind exactly and
    the tagger marks that kind reliably: a sum of money ("How much did Google pay for
    Keyhole?"), a percentage ("What percentage of voters…?"). A question of another kind
    gets None: persons and organisations, or amounts and plain numbers, are too often
    confused by the tagger for a missing label to mean a missing answer."""
    if _PERCENT_ASKED.search(question):
        return "PERCENT"
    if _MONEY_ASKED.search(question) and not _CHANGE_ASKED.search(question):
        return "MONEY"
    return None


def ordinals(question: str) -> frozenset[str]:
    """The ordinals a question takes as given ("its second share offering", "the 18th
    recipient", "its billionth song"): numbers in words, which the evidence must hold as
    much as "2005". Not "first": a first event is often told without the word ("launched
    in 2001", "made his debut"; of 1,200 answerable SQuAD questions, two asked "first" of
    a paragraph without it), nor "second" as a unit ("per second"; "a second" is mostly
    "a second term")."""
    found = set()
    for m in _ORDINAL.finditer(question):
        word = m.group(0).lower()
        if word in ("first", "1st"):
            continue
        if word == "second" and question[: m.start()].lower().split()[-1:] in (["per"], ["split"]):
            continue
        found.add(word)
    return frozenset(found)


def ordinal_pattern(ordinal: str) -> re.Pattern[str]:
    """Every way a text may write an ordinal: "second", "2nd", "II" (as in "World War II");
    one written in figures ("18th") also matches the bare number ("18 March")."""
    word = ordinal.lower()
    digits = re.fullmatch(r"(\d+)(?:st|nd|rd|th)", word)
    n = int(digits.group(1)) if digits else _ORDINAL_POWERS.get(word) or _ORDINAL_WORDS.index(word) + 1
    forms = [rf"(?i:\b{n}(?:st|nd|rd|th)\b)"]
    if n <= len(_ORDINAL_WORDS):
        forms += [rf"(?i:\b{_ORDINAL_WORDS[n - 1]}\b)", rf"\b{_ROMAN[n - 1]}\b"]
    forms += [rf"(?i:\b{w}\b)" for w, v in _ORDINAL_POWERS.items() if v == n]
    if digits:
        forms.append(rf"(?<![\d.,]){n}(?![\d]|[.,]\d)")
    return re.compile("|".join(forms))


def lower_words(text: str) -> list[str]:
    """The words of a text in lower case, in order, with possessives cut ("Hewitt's" →
    "hewitt") and a wh-word's or a pronoun's "'s" read as "is" ("who's" → "who is")."""
    out = []
    for w in _WORD.findall(text.lower()):
        w = w.replace("’", "'").strip("'")
        if w.endswith("'s"):
            w = w[:-2]
            if w in _WH_WORDS or w in _CLITIC_HOSTS:
                out += [w, "is"]
                continue
        if w:
            out.append(w)
    return out


_NUMBER_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty"
).split()
#: scale words after a number, and the forms a text may write each scale in
_SCALES = {"k": 1e3, "thousand": 1e3, "m": 1e6, "mn": 1e6, "million": 1e6, "bn": 1e9, "billion": 1e9, "tn": 1e12, "trillion": 1e12}
_SCALE_FORMS = {1e3: r"(?:k|thousand)", 1e6: r"(?:m|mn|million)", 1e9: r"(?:bn|billion)", 1e12: r"(?:tn|trillion)"}


def number_pattern(number: str, question: str = "") -> re.Pattern[str]:
    """Every way a text may write a number the question gives: as written ("X.25" holds
    "25"), with or without thousands commas ("10000", "10,000"), a small one in words or
    Roman numerals ("two", "World War I"), and an amount with a scale in another scale
    ("$500m": "half a billion", "0.5bn", "500 million"); the scale comes from ``question``."""
    digits = number.replace(",", "")
    forms = [rf"(?<!\d)(?<!\d[.,]){_grouped(digits)}(?!\d|[.,]\d)"]
    if digits.isdigit() and int(digits) < len(_NUMBER_WORDS):
        n = int(digits)
        forms.append(rf"(?i:\b{_NUMBER_WORDS[n]}\b)")
        if n:
            forms.append(rf"\b{_ROMAN[n - 1]}\b")
    scale = re.search(rf"(?<![\d.,]){re.escape(number)}\s*({'|'.join(_SCALES)})\b", question, re.IGNORECASE)
    if scale and re.fullmatch(r"\d+(?:\.\d+)?", digits):
        value = float(digits) * _SCALES[scale.group(1).lower()]
        for size, words in _SCALE_FORMS.items():
            amount = value / size
            if amount < 0.1 or amount >= 1e6 or round(amount, 2) != amount:
                continue
            said = [_grouped(f"{amount:f}".rstrip("0").rstrip("."))]
            if amount == 0.5:
                said.append(r"half\s+an?")
            if amount == 1:
                said.append(r"an?")
            if amount == int(amount) and amount < len(_NUMBER_WORDS):
                said.append(_NUMBER_WORDS[int(amount)])
            forms.append(rf"(?i:(?<![\d.,])\b(?:{'|'.join(said)})\s*{words}\b)")
    return re.compile("|".join(forms))


def _grouped(digits: str) -> str:
    """A pattern for a number written with or without thousands commas ("10000", "10,000")."""
    if not re.fullmatch(r"\d{4,}", digits):
        return re.escape(digits)
    head = len(digits) % 3 or 3
    return digits[:head] + "".join(",?" + digits[i : i + 3] for i in range(head, len(digits), 3))


def word_set(text: str) -> frozenset[str]:
    """The words of a text in lower case, possessives cut (see :func:`lower_words`)."""
    return frozenset(lower_words(text))


_STOP_NOUN_SCAN = frozenset(
    "is are was were did does do has have had will would can could should may might must "
    "in on at by for of to from with as that who which when where than".split()
)


def _answer_type(words: list[str]) -> tuple[str, frozenset[str]]:
    """The wh-word that opens the question's ask (the first one) and the labels an answer would have."""
    for i, w in enumerate(words):
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if w == "how":
            if nxt == "many":
                return "how many", COUNT
            if nxt == "much":
                return "how much", AMOUNT
            if nxt in ("long", "old"):
                return "how long", DURATION
            if nxt in ("far", "fast", "big", "large", "tall", "high", "heavy", "deep", "wide", "quickly", "quick", "small", "low", "heavily"):
                return "how much", MEASURE
            if nxt == "often":
                return "when", DURATION
            return "how", frozenset()
        if w == "when":
            return "when", WHEN
        if w == "where":
            return "where", PLACE | GROUP
        if w in ("who", "whom", "whose"):
            return "who", WHO
        if w == "why":
            return "why", frozenset()
        if w in ("which", "what"):
            # the head noun closes the phrase that follows: "which two UK gamers", "which fund manager"
            found = None
            start = i + 2 if nxt in ("is", "was", "are", "were") else i + 1  # "what was her winning time"
            for noun in words[start : start + 6]:
                if noun in _STOP_NOUN_SCAN:
                    break
                found = _noun_type(noun) or found
            if found is not None:
                return "which", found
            if w == "which":
                return "which", NAME
            return "what", frozenset()
    return "other", frozenset()


#: verbs that often follow a short question phrase ("which team beat …")
_VERBS = frozenset("beat beats won win wins lost lose loses made make makes took take takes said say says got get gets led lead leads "
                   "became become becomes went go goes came come comes gave give gives bought buy buys sold sell sells told tell tells "
                   "hit hits ran run runs set sets put puts faced face faces kept keep keeps left leave leaves".split())
_HEAD_SKIP = frozenset("the a an two three four five six first last new other kind type sort".split())


def _head(words: list[str]) -> frozenset[str]:
    """The content words of the phrase that names what is asked: after "which"/"what"
    ("which American city"), or after "who is the" ("who is the general manager of")."""
    for i, w in enumerate(words):
        if w not in _WH_WORDS:
            continue
        if w in ("which", "what"):
            rest = words[i + 1 :]
        elif w in ("who", "whom") and i + 2 < len(words) and words[i + 1] in ("is", "was", "are", "were") and words[i + 2] in ("the", "a", "an"):
            rest = words[i + 3 :]
        else:
            return frozenset()
        if rest[:1] and rest[0] in ("is", "was", "are", "were", "did", "does", "do", "has", "have", "had", "will"):
            return frozenset()  # "what is …", "which did …": no phrase
        out = []
        for noun in rest[:5]:
            if noun == "of" and not out:  # "what kind of game"
                continue
            if noun in _STOP_NOUN_SCAN or noun in _WH_WORDS or noun in _VERBS or (out and noun.endswith("ed")):
                break
            if noun not in _HEAD_SKIP and not noun.isdigit():
                out.append(noun)
            if _noun_type(noun):  # a known noun closes the phrase ("which two countries")
                break
        return frozenset(out)
    return frozenset()


def is_agent_noun(noun: str) -> bool:
    """Whether a noun names people or a body of them ("coach", "council", "firm"): who, not what."""
    return noun.lower() in _PERSON_NOUNS or noun.lower() in _GROUP_NOUNS


def _noun_type(noun: str) -> frozenset[str] | None:
    if noun in _PERSON_NOUNS:
        return PERSON
    if noun in _GROUP_NOUNS:
        return GROUP
    if noun in _PLACE_NOUNS:
        return PLACE
    if noun in _WHEN_NOUNS:
        return WHEN
    if noun in _MONEY_NOUNS:
        return frozenset({"MONEY", "CARDINAL"})
    if noun in _PERCENT_NOUNS:
        return frozenset({"PERCENT", "CARDINAL"})
    if noun in _COUNT_NOUNS:
        return COUNT
    return None


_CAPITALISED = re.compile(r"\b[A-Z][\w'’&.-]*(?:\s+(?:of|the|de|van|von|and|&)?\s*[A-Z][\w'’&.-]*)*")


def _names(question: str, entities: Sequence[tuple[int, int, str]]) -> tuple[str, ...]:
    """Proper names in the question: tagged entities and capitalised words past the first."""
    found = [question[a:b] for a, b, label in entities if label not in ("CARDINAL", "ORDINAL", "DATE", "TIME", "QUANTITY", "PERCENT", "MONEY")]
    for m in _CAPITALISED.finditer(question):
        text = m.group(0)
        first = next(iter(lower_words(text.split()[0])), "")  # "Who's" → "who"
        if m.start() == 0 and (first in _WH_WORDS or first in _AUX):
            rest = text.split(None, 1)
            if len(rest) < 2:
                continue
            text = rest[1]
        if text.lower() not in _WH_WORDS:
            found.append(text)
    out: list[str] = []
    for name in found:
        name = re.sub(r"['’]s?$", "", name.strip(" .,?!\"“”")).strip()
        words = name.split()
        while len(words) > 1 and words[0].lower().rstrip(".") in _TITLES:  # "Sir Paul McCartney" → "Paul McCartney"
            words = words[1:]
        name = " ".join(words)
        if name and name.lower() not in _WH_WORDS and name.lower() not in _NOT_NAMES and name not in out:
            out.append(name)
    # a name that contains another is the same constraint said longer ("Sir Paul McCartney")
    return tuple(n for n in out if not any(o != n and o in n for o in out))


_TITLES = frozenset("the sir lord lady mr mrs ms dr dame president prime minister".split())
_NOT_NAMES = frozenset(
    """january february march april may june july august september october november december monday tuesday
    wednesday thursday friday saturday sunday year years mr mrs ms dr sir lord i""".split()
)
_AUX = frozenset("is are was were did does do has have had will would can could should in on at by for of to from the a an and".split())


# -- follow-up questions --------------------------------------------------------------

_ANAPHORA = frozenset(
    "it its it's he him his she her hers they them their theirs this that these those there then one ones such the same former latter".split()
)
_FILLER = frozenset(
    "what who whom whose which when where why how is are was were do does did and or but so about with for of to in on at by from a an the "
    "tell me more else also too".split()
)


def resolve_followup(question: str, history: Sequence[Any]) -> str:
    """The search query for ``question`` in a conversation.

    An elliptical follow-up ("Who led it?", "and when?") is searched together
    with the user's earlier questions back to the last self-contained one ("Who
    led the rebellion?" → "When did that happen?" → "How did they find out?"
    searches all three); a self-contained one is searched alone. ``history`` is
    in the chat messages format (``{"role", "content"}``); ``(user, assistant)``
    pairs are accepted too.
    """
    if not _elliptical(question):
        return question
    context: list[str] = []
    for turn in reversed(_previous_user_turns(history)[-MAX_CONTEXT_TURNS:]):
        context.insert(0, turn)
        if not _elliptical(turn):
            break
    return " ".join([*context, question])


#: How many earlier questions a chain of follow-ups reaches back to.
MAX_CONTEXT_TURNS = 4


def _elliptical(question: str) -> bool:
    """Whether a question leans on the conversation: it refers back ("it", "that") or says
    almost nothing of its own ("and when?")."""
    words = lower_words(question)
    content = [w for w in words if w not in _FILLER and w not in _ANAPHORA]
    return any(w in _ANAPHORA for w in words) or len(content) <= 2


def conversation_turns(history: Sequence[Any]) -> list[dict[str, str]]:
    """The text turns of a chat history, as ``{"role", "content"}`` messages.

    Accepts the chat messages format, whose content is a string or, as Gradio's
    Chatbot sends it, a list of parts (``{"type": "text", "text": …}``, files and
    components), and ``(user, assistant)`` pairs. Only text is kept: a turn of files
    alone is left out. Raises :class:`QueryError` when ``history`` is not a list at all.
    """
    if history is None:
        return []
    if not isinstance(history, (list, tuple)):
        raise QueryError(f"a chat history must be a list of messages, not {type(history).__name__}")
    turns: list[dict[str, str]] = []

    def add(role: str, content: Any) -> None:
        text = _text_of(content)
        if text:
            turns.append({"role": role, "content": text})

    for item in history:
        if isinstance(item, dict):
            if item.get("role") in ("user", "assistant"):
                add(item["role"], item.get("content"))
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            for role, content in zip(("user", "assistant"), item):
                if isinstance(content, str):  # a tuple in a pair is a file: (path, alt text)
                    add(role, content)
    return turns


def _text_of(content: Any) -> str:
    """The text of a message's content: a string, a text part, or the text parts of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return content["text"] if content.get("type", "text") == "text" and isinstance(content.get("text"), str) else ""
    if isinstance(content, (list, tuple)):
        return "\n".join(text for text in (_text_of(part) for part in content) if text)
    return ""


def already_quoted(history: Sequence[Any]) -> set[str]:
    """The normalised text of the assistant's earlier turns, split at quote marks."""
    said: set[str] = set()
    for turn in conversation_turns(history):
        if turn["role"] == "assistant":
            said.update(n for n in (normalize(part.replace("**", "")) for part in re.split(r"[“”]", turn["content"])) if n)
    return said


def normalize(text: str) -> str:
    """Lower case, words only, single spaces: for comparing texts regardless of punctuation."""
    return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())


def _previous_user_turns(history: Sequence[Any]) -> list[str]:
    turns = (" ".join(t["content"].split()) for t in conversation_turns(history) if t["role"] == "user")
    return [t for t in turns if t]
