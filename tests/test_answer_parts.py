"""The parts of the answerer on their own: question analysis, candidates, rendering, the model file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from corpus.errors import CorpusError
from qa.answer import Quote, marked_quote, render_quotes
from qa.answer.entities import Tagger, rule_spans
from qa.answer.model import MODEL_FILE, load_model
from qa.answer.question import analyse, number_pattern, ordinal_pattern, word_set
from qa.hits import Hit


@pytest.mark.parametrize(
    ("question", "wh", "wants"),
    [
        ("How many people did ISIS execute?", "how many", {"CARDINAL"}),
        ("How much did David Blunkett pay back for the rail tickets?", "how much", {"MONEY"}),
        ("When does Kisna - the Warrior Poet open in the UK?", "when", {"DATE"}),
        ("Where was Suge Knight arrested?", "where", {"GPE"}),
        ("Who will Roger Federer face in the Qatar Open semi-finals?", "who", {"PERSON"}),
        ("Which publisher is releasing Football Manager?", "which", {"ORG"}),
        ("which fund manager is the biggest investor in the club?", "which", {"PERSON"}),
        ("in which belgian town was she playing when she failed a test?", "which", {"GPE"}),
        ("What percentage of Europeans want to watch films on the move?", "which", {"PERCENT"}),
        ("What did Abadi say in his radio broadcast?", "what", set()),
        ("Why did the plot fail?", "why", set()),
    ],
)
def test_what_a_question_asks_for(question, wh, wants):
    info = analyse(question)
    assert info.wh == wh
    assert wants <= info.wants
    if not wants:
        assert not info.wants


def test_a_question_names_its_specifics():
    info = analyse("Who won Iran's 2005 presidential election to succeed Mohammad Khatami?")
    assert info.numbers == {"2005"}
    assert "Mohammad Khatami" in info.names and "Iran" in info.names
    assert "Who" not in info.names
    # a name said longer is the same constraint
    assert analyse("Did Sir Paul McCartney play?").names == ("Paul McCartney",)
    assert word_set("Lleyton Hewitt's criticism") == {"lleyton", "hewitt", "criticism"}


@pytest.mark.parametrize(
    ("contracted", "spelt_out"),
    [
        ("Who's the MSN executive talking up Microsoft's new search tool?", "Who is the MSN executive talking up Microsoft's new search tool?"),
        ("what’s the name of George Galloway's new party?", "what is the name of George Galloway's new party?"),
        ("Where's Bioware holding its auditions?", "Where is Bioware holding its auditions?"),
    ],
)
def test_a_contracted_question_reads_as_spelt_out(contracted, spelt_out):
    short, full = analyse(contracted), analyse(spelt_out)
    assert (short.wh, short.wants, short.names, short.head, short.words) == (full.wh, full.wants, full.names, full.head, full.words)


@pytest.mark.parametrize(
    ("question", "ordinals", "numbers"),
    [
        ("How much did Google raise from its second share offering in September 2005?", {"second"}, {"2005"}),
        ("When did the store sell its billionth song?", {"billionth"}, set()),
        ("Which engineer is the 18th recipient of the award?", {"18th"}, set()),
        ("What was the first battle in 1754?", set(), {"1754"}),  # "first" is often told without the word
        ("How many metres per second do the lifts climb?", set(), set()),  # a unit, not an ordinal
        ("Why did he resign from the cabinet for a second time?", {"second"}, set()),
    ],
)
def test_a_question_takes_its_ordinals_as_given(question, ordinals, numbers):
    info = analyse(question)
    assert info.ordinals == ordinals
    assert info.numbers == numbers


@pytest.mark.parametrize(
    ("question", "exact"),
    [
        ("How much did Google pay to buy the satellite mapping firm Keyhole?", "MONEY"),
        ("how much money did the cyber defence unit have to spend?", "MONEY"),
        ("How much did the painting sell for?", "MONEY"),
        ("How much does it cost to produce a print?", "MONEY"),
        ("What percentage of Europeans want to watch films on the move?", "PERCENT"),
        ("By how much will Deutsche Boerse boost its dividend payment?", None),  # a change: a share will do
        ("How much did the price of oil increase?", None),
        ("How much did UK Coal lose in 2004?", None),  # "lose" is as often ground or weight
        ("How many people did ISIS execute?", None),
        ("Who paid for the weapons?", None),
    ],
)
def test_a_sum_of_money_or_a_percentage_is_asked_for_exactly(question, exact):
    assert analyse(question).exact == exact


@pytest.mark.parametrize(
    ("ordinal", "held", "not_held"),
    [
        ("second", ["its 2nd offering", "The Second Chamber", "World War II"], ["a secondary school", "2 shares", "30 seconds"]),
        ("18th", ["the eighteenth", "18th century", "on 18 March", "Louis XVIII"], ["180 people", "1.18m"]),
        ("billionth", ["the billionth song", "its Billionth"], ["a billion songs"]),
    ],
)
def test_an_ordinal_is_found_however_a_text_writes_it(ordinal, held, not_held):
    pattern = ordinal_pattern(ordinal)
    assert [bool(pattern.search(text)) for text in held] == [True] * len(held)
    assert [bool(pattern.search(text)) for text in not_held] == [False] * len(not_held)


@pytest.mark.parametrize(
    ("number", "question", "held", "not_held"),
    [
        ("25", "What supplanted X.25?", ["X.25 networks"], ["1.25 million", "250 nodes"]),
        ("10000", "", ["10,000 horsepower", "10000 hp"], ["100,000", "10,0001"]),
        ("2005", "", ["in 2005.", "2005-06"], ["in 2004", "12005"]),
        ("2", "", ["two differences", "World War II"], ["12 differences", "2.5 times"]),
        ("500", "Could trade exceed $500m this year?", ["half a billion dollars", "$0.5bn", "500 million", "$500m"], ["$5bn", "half a million"]),
        ("1.2", "a $1.2bn deal", ["1,200 million", "1200m", "$1.2bn"], ["2.2bn", "1.25bn"]),
    ],
)
def test_a_number_of_the_question_is_found_however_written(number, question, held, not_held):
    pattern = number_pattern(number, question)
    assert [bool(pattern.search(text)) for text in held] == [True] * len(held)
    assert [bool(pattern.search(text)) for text in not_held] == [False] * len(not_held)


def test_rules_tag_amounts_dates_and_names():
    text = "Shares rose 27% to $1.2bn on 7 February 2005, said Tommy Schenck in Barstow, California."
    spans = {text[a:b]: label for a, b, label in rule_spans(text, names=True)}
    assert spans["27%"] == "PERCENT"
    assert spans["$1.2bn"] == "MONEY"
    assert spans["7 February 2005"] == "DATE"
    assert spans["Tommy Schenck"] == "NAME"
    assert "Shares" not in spans  # a single capitalised word opening a sentence is not a name


def test_tagger_finds_people_and_numbers():
    tagger = Tagger()
    [spans] = tagger.spans(["The group executed 58 people, said Hisham al-Hashimi in Baghdad on Monday."])
    labels = {label for _, _, label in spans}
    assert "CARDINAL" in labels
    assert labels & {"PERSON", "NAME"}
    assert tagger.spans(["x"]) == tagger.spans(["x"])  # cached, same answer


def _quote(text: str, answer):
    hit = Hit("a#1", "a", "T", 1, text, "a.txt", 1.0, 0, len(text))
    return Quote(text, 1, hit, 0, len(text), 0.9, answer)


def test_the_answer_span_is_bold_and_everything_else_escaped():
    quote = _quote("The lifts climb at 17m per second, *fast* <b>.", (19, 33))
    assert quote.answer_text == "17m per second"
    md = marked_quote(quote)
    assert md == "The lifts climb at **17m per second**, \\*fast\\* &lt;b&gt;."
    assert render_quotes([quote]) == f"> “{md}” [1]"
    assert marked_quote(_quote("No span here.", None)) == "No span here."
    data = quote.to_dict()
    assert data["answer"] == [19, 33] and data["answer_text"] == "17m per second"


def test_the_shipped_model_loads_and_a_broken_one_is_a_clear_error(tmp_path):
    model = load_model()
    assert 0.0 < model.threshold < 1.0
    assert model.meta["held_out"]  # trained with held-out figures recorded
    p = model.sentence.predict(np.zeros((3, len(model.sentence.names))))
    assert p.shape == (3,) and abs(p.sum() - 1.0) < 1e-9  # a softmax over one question's sentences
    broken = tmp_path / "model.json"
    data = json.loads(MODEL_FILE.read_text())
    data["sentence"]["features"] = data["sentence"]["features"][:-1]
    broken.write_text(json.dumps(data))
    with pytest.raises(CorpusError, match="retrain it"):
        load_model(broken)
    broken.write_text("{")
    with pytest.raises(CorpusError):
        load_model(broken)


def test_the_entity_pipeline_is_the_verified_release():
    from qa.answer.entities import weights_verified

    tagger = Tagger()
    assert tagger.pipeline is not None, "spaCy's English pipeline is part of the install"
    assert weights_verified(tagger.pipeline)
    assert tagger.pipeline.pipe_names == ["tok2vec", "ner"]


def test_batch_cache_computes_each_text_once_and_stays_bounded():
    from qa.answer.cache import BatchCache

    calls = []

    def compute(texts):
        calls.append(list(texts))
        return [t.upper() for t in texts]

    cache = BatchCache(compute, size=3)
    assert cache(["a", "b", "a"]) == ["A", "B", "A"]
    assert cache(["b", "c"]) == ["B", "C"]
    assert calls == [["a", "b"], ["c"]]  # one call per batch, only for texts not seen
    cache(["d", "e"])  # a and b are now the oldest beyond the bound
    assert cache(["a"]) == ["A"] and calls[-1] == ["a"]


@pytest.mark.parametrize(
    "question, head",
    [
        ("Which design engineer is the 18th recipient of the Sawyer Award?", {"design", "engineer"}),
        ("Who is the general manager of WRAZ-TV?", {"general", "manager"}),
        ("which two countries beat Britain in the league table?", {"countries"}),
        ("what kind of game is the first to use it?", {"game"}),
        ("What is Texas Instruments' new chip called?", set()),
        ("Who led the rebellion?", set()),
    ],
)
def test_the_head_phrase_names_what_is_asked(question, head):
    assert analyse(question).head == head


def test_neighbours_reach_across_paragraphs_of_one_article():
    from qa.answer.analysis import Sentence
    from qa.answer.features import _link_neighbours

    def hit(article: str, paragraph: int) -> Hit:
        return Hit(f"{article}#{paragraph}", article, "T", paragraph, "x", f"{article}.txt", 1.0, 0, 1)

    # retrieved out of order: ¶2 of a (two sentences), ¶1 of a, ¶3 of b
    hits = [hit("a", 2), hit("a", 1), hit("b", 3)]
    sentences = [Sentence(0, 0, 0, 1, ()), Sentence(0, 1, 0, 1, ()), Sentence(1, 0, 0, 1, ()), Sentence(2, 0, 0, 1, ())]
    _link_neighbours(sentences, hits)
    assert (sentences[0].prev, sentences[0].next) == (2, 1)
    assert (sentences[1].prev, sentences[1].next) == (0, None)  # ¶3 of a is not among the passages
    assert (sentences[2].prev, sentences[2].next) == (None, 0)
    assert (sentences[3].prev, sentences[3].next) == (None, None)  # another article


def test_a_candidate_beside_the_head_phrase_is_marked(seed_lib):
    from qa.answer.analysis import SENTENCE_FEATURES

    answerer = seed_lib.answerer
    analysis = answerer.analyse(answerer.retrieve("Which adviser on ISIS spoke to Reuters about the commander?"))
    column = SENTENCE_FEATURES.index("head_near_candidate")
    marked = {
        analysis.retrieval.passages[s.hit_index].text[s.start : s.end]: row[column]
        for s, row in zip(analysis.sentences, analysis.features)
        if s.candidates
    }
    # "… Hisham al-Hashimi, adviser to the Iraqi government on ISIS, …"
    assert [v for k, v in marked.items() if "Hisham al-Hashimi, adviser" in k] == [1.0]
    assert any(v == 0.0 for v in marked.values())


def test_a_paraphrased_predicate_matches_softly(seed_lib):
    """The question's predicate words meet the sentence's words by their contextual vectors:
    "led" finds "spearheaded", which no stem match does, and a sentence that carries neither
    of the question's words scores lower on both the mean and the weakest word."""
    from qa.answer.analysis import SENTENCE_FEATURES

    answerer = seed_lib.answerer
    analysis = answerer.analyse(answerer.retrieve("Who led the rebellion?", k=12))
    mean, weakest = SENTENCE_FEATURES.index("soft_predicate"), SENTENCE_FEATURES.index("soft_predicate_min")
    def row(opening: str) -> np.ndarray:
        return next(r for s, r in zip(analysis.sentences, analysis.features) if analysis.retrieval.passages[s.hit_index].text.startswith(opening, s.start))

    spearheaded = row("The plot was spearheaded by an ISIS commander")
    quashed = row("Updated | The Islamic State militant group")  # has "rebellion", not "led"
    unrelated = row("The city is believed to still hold a population")
    assert spearheaded[weakest] > quashed[weakest] > unrelated[weakest]
    assert spearheaded[mean] > unrelated[mean] and quashed[mean] > unrelated[mean]
    assert all(-1.0 <= r[weakest] <= r[mean] <= 1.01 for r in analysis.features)


def test_word_pieces_are_read_as_words():
    from qa.answer.matching import piece_words

    assert piece_words(("the", "plot", "was", "spear", "##head", "##ed", "?")) == [
        ("the", [0]), ("plot", [1]), ("was", [2]), ("spearheaded", [3, 4, 5]), ("?", [6])
    ]
    assert piece_words(("##ed", "x")) == [("##ed", [0]), ("x", [1])]


def test_a_further_sentence_is_quoted_when_likely_enough_for_its_length():
    """The best sentence is always quoted; another joins when its probability is at least
    PER_WORD for each of its words (a short likely one does, a long one as likely does not)."""
    from qa.answer.analysis import SENTENCE_FEATURES, Analysis, Sentence
    from qa.answer.answerer import PER_WORD, choose_quotes
    from qa.answer.types import Retrieval

    texts = ["The best sentence says what was asked.", " ".join(["short"] * 20) + ".", " ".join(["long"] * 40) + "."]
    hits = [Hit(f"a#{n}", "a", "T", n, text, "a.txt", 1.0, 0, len(text)) for n, text in enumerate(texts, start=1)]
    sentences = [Sentence(i, 0, 0, len(text), ()) for i, text in enumerate(texts)]
    retrieval = Retrieval("What was said?", "What was said?", hits, [1.0, 0.8, 0.6], [])
    zeros = np.zeros(3)
    analysis = Analysis(retrieval, analyse("What was said?"), sentences, np.zeros((3, len(SENTENCE_FEATURES))), *[zeros] * 6, zeros, zeros, True, zeros, zeros)
    # the short sentence needs 20 × PER_WORD, the long one 40 × PER_WORD
    p = np.array([0.5, 20 * PER_WORD + 0.01, 40 * PER_WORD - 0.01])
    quotes, sources = choose_quotes(analysis, p)
    assert [q.text for q in quotes] == texts[:2]
    assert [s.number for s in sources] == [1, 2]
    p[2] = 40 * PER_WORD + 0.01  # now it earns its length (quotes come most likely first)
    assert [q.text for q in choose_quotes(analysis, p)[0]] == [texts[0], texts[2], texts[1]]


@pytest.mark.parametrize(
    ("question", "second", "quoted"),
    [
        # a question that names no kind of answer: the sentence going on from the best is quoted with it
        ("What is the process called?", "This is called immune surveillance.", True),
        ("What is the process called?", "Tumors are common in old age.", False),
        # one that asks for a kind (a date) looks for a candidate of that kind instead
        ("When was the process named?", "This is called immune surveillance.", False),
    ],
)
def test_the_sentence_going_on_from_the_best_joins_its_quote(question, second, quoted):
    from qa.answer.analysis import SENTENCE_FEATURES, Analysis, Sentence
    from qa.answer.answerer import choose_quotes
    from qa.answer.types import Retrieval

    first = "Another important role of the immune system is to identify and eliminate tumors."
    text = f"{first} {second}"
    hit = Hit("a#1", "a", "T", 1, text, "a.txt", 1.0, 0, len(text))
    sentences = [Sentence(0, 0, 0, len(first), (), next=1), Sentence(0, 1, len(first) + 1, len(text), (), prev=0)]
    zeros = np.zeros(2)
    analysis = Analysis(
        Retrieval(question, question, [hit], [1.0], []), analyse(question), sentences, np.zeros((2, len(SENTENCE_FEATURES))),
        *[zeros] * 6, zeros, zeros, True, zeros, zeros,
    )
    quotes, _ = choose_quotes(analysis, np.array([0.9, 0.01]))
    assert [q.text for q in quotes] == [text if quoted else first]


def test_an_answer_can_be_timed_stage_by_stage(seed_lib):
    """The benchmark's profile of one answer: every stage timed, the answer unchanged."""
    from corpus.generation import StageTimer

    answerer = seed_lib.answerer
    question = "Who led the rebellion?"
    timer = StageTimer()
    timed = answerer.draft(question, timer=timer).answer(answerer.threshold)
    assert set(timer.seconds) == {
        "search", "split sentences", "embed the question", "embed the sentences", "tag entities (a thread, beside the embedding)",
        "wait for the tagger", "features", "sentence and answerability models", "choose the quotes",
    }
    assert all(seconds >= 0 for seconds in timer.seconds.values())
    assert timed.to_dict() == seed_lib.ask(question).to_dict()
