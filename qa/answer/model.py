"""The two small learned models of the answerer, stored as JSON beside the code.

- the **sentence model** gives each sentence the probability that it holds the
  answer (logistic regression over :data:`features.SENTENCE_FEATURES`);
- the **answerability model** gives the question the probability that the
  passages answer it at all (logistic regression over
  :data:`features.QUESTION_FEATURES`), which is the answer's confidence.

Both are trained by ``python -m qa.eval.train`` (see there) on SQuAD 2.0 and the
BBC News development questions; the file records the feature names, the
training data, the held-out figures and the threshold. Inference is a dot
product: no scikit-learn at run time, no pickle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from corpus.errors import CorpusError

from .analysis import QUESTION_FEATURES, SENTENCE_FEATURES

MODEL_FILE = Path(__file__).with_name("model.json")
FORMAT = 1


@dataclass(frozen=True)
class Logistic:
    names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    #: "sigmoid": each row on its own; "softmax": the rows are the choices of one
    #: question (a conditional logit), and their probabilities sum to one.
    link: str = "sigmoid"

    def predict(self, rows: np.ndarray) -> np.ndarray:
        if rows.size == 0:
            return np.zeros(len(rows))
        z = ((rows - self.mean) / self.scale) @ self.coef + self.intercept
        if self.link == "softmax":
            e = np.exp(z - z.max())
            return e / e.sum()
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.names),
            "mean": [round(float(x), 6) for x in self.mean],
            "scale": [round(float(x), 6) for x in self.scale],
            "coef": [round(float(x), 6) for x in self.coef],
            "intercept": round(float(self.intercept), 6),
            "link": self.link,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], expected: tuple[str, ...]) -> Logistic:
        names = tuple(data["features"])
        if names != expected:
            raise ValueError(f"features {names} do not match the code's {expected}")
        arrays = [np.asarray(data[k], dtype=float) for k in ("mean", "scale", "coef")]
        if any(a.shape != (len(names),) for a in arrays):
            raise ValueError("coefficient arrays have the wrong length")
        link = data.get("link", "sigmoid")
        if link not in ("sigmoid", "softmax"):
            raise ValueError(f"unknown link {link!r}")
        return cls(names, arrays[0], np.where(arrays[1] > 0, arrays[1], 1.0), arrays[2], float(data["intercept"]), link)


@dataclass(frozen=True)
class AnswerModel:
    sentence: Logistic
    answerable: Logistic
    threshold: float
    meta: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            **self.meta,
            "threshold": round(self.threshold, 4),
            "sentence": self.sentence.to_dict(),
            "answerable": self.answerable.to_dict(),
        }

    def save(self, path: Path = MODEL_FILE) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")


@lru_cache(maxsize=4)
def load_model(path: Path = MODEL_FILE) -> AnswerModel:
    """The answer models; a missing or mismatched file is a :class:`CorpusError` naming the fix."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {FORMAT}")
        meta = {k: v for k, v in data.items() if k not in ("format", "threshold", "sentence", "answerable")}
        return AnswerModel(
            Logistic.from_dict(data["sentence"], SENTENCE_FEATURES),
            Logistic.from_dict(data["answerable"], QUESTION_FEATURES),
            float(data["threshold"]),
            meta,
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CorpusError(f"the answer model {path} cannot be used ({exc}); retrain it with `python -m qa.eval.train`") from None
