"""Final operations over step answers, computed by Sleuth rather than guessed by the reader.

A comparison ("which was born first, A or B?") is the step answers (dates or numbers, as Wikipedia text
writes them) parsed and compared; the winner is the *choice* that goes with the winning step (the film,
not its director). Same / different is equality of normalised values. Where values do not parse, or tie,
the operation says so (`Outcome.computed` is False) and the caller falls back to the LLM, saying so in
the trace.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal, get_args

from reasoning.text import normalize_answer

CompareOp = Literal["earliest", "latest", "largest", "smallest"]
COMPARE_OPS: tuple[CompareOp, ...] = get_args(CompareOp)
EqualityOp = Literal["same", "different", "all"]
EQUALITY_OPS: tuple[EqualityOp, ...] = get_args(EqualityOp)
_YES_NO = {"yes": True, "no": False}

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_MONTH = "(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY_MONTH_YEAR = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH},?\s+(\d{{1,4}})\b", re.I)
_MONTH_DAY_YEAR = re.compile(rf"\b{_MONTH}\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{1,4}})\b", re.I)
_MONTH_YEAR = re.compile(rf"\b{_MONTH},?\s+(\d{{3,4}})\b", re.I)
_ISO = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_YEAR = re.compile(r"\b(\d{3,4})s?\b")
_BC = re.compile(r"\b(BC|BCE|B\.C\.)(?!\w)", re.I)
_ERA_YEAR = re.compile(r"\b(\d{1,4})\s*(?:BC|BCE|B\.C\.|AD|CE|A\.D\.)(?!\w)", re.I)
_CENTURY = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)\s+century\b", re.I)
_NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")
_SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
_SCALE = re.compile(r"\b(thousand|million|billion|trillion)\b", re.I)
_WORD_NUMBERS = {
    w: i
    for i, w in enumerate(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
         "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"]
    )
}  # fmt: skip


def parse_date(text: str) -> tuple[int, int, int] | None:
    """(year, month, day) from the first date in `text` ("12 March 1950", "March 12, 1950", "1950-03-12",
    "March 1950", "1950", "1950s", "5th century", "44 BC"); missing parts are 0, so a bare year sorts before
    its dated days only where the two are otherwise equal. None when no date is found."""
    sign = -1 if _BC.search(text) else 1
    for pattern, order in ((_DAY_MONTH_YEAR, "dmy"), (_MONTH_DAY_YEAR, "mdy")):
        match = pattern.search(text)
        if match:
            parts = dict(zip(order, match.groups(), strict=True))
            day, month, year = int(parts["d"]), _MONTHS[parts["m"].lower().rstrip(".")], int(parts["y"])
            if 1 <= day <= 31:
                return sign * year, month, day
    match = _ISO.search(text)
    if match and _valid(int(match.group(1)), int(match.group(2)), int(match.group(3))):
        return int(match.group(1)), int(match.group(2)), int(match.group(3))
    match = _MONTH_YEAR.search(text)
    if match:
        return sign * int(match.group(2)), _MONTHS[match.group(1).lower().rstrip(".")], 0
    match = _ERA_YEAR.search(text) or _YEAR.search(text)
    if match:
        return sign * int(match.group(1)), 0, 0
    match = _CENTURY.search(text)
    if match:
        return sign * ((int(match.group(1)) - 1) * 100 + 50), 0, 0
    return None


def _valid(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def parse_number(text: str) -> float | None:
    """The first number in `text` ("1,234", "3.5 million", "twelve"); None when there is none."""
    match = _NUMBER.search(text)
    if match:
        value = float(match.group(0).replace(",", ""))
        scale = _SCALE.search(text[match.end() : match.end() + 12])
        return value * _SCALES[scale.group(1).lower()] if scale else value
    for word in normalize_answer(text).split():
        if word in _WORD_NUMBERS:
            return float(_WORD_NUMBERS[word])
    return None


@dataclass(frozen=True)
class Outcome:
    """What an operation computed: `winner` (an index into the values) or `answer`, and how."""

    computed: bool
    answer: str = ""
    winner: int | None = None
    kind: str = ""  # date | number | equality
    values: tuple[object, ...] = ()
    reason: str = ""  # why it was not computed (unparsable, tie)

    def to_json(self) -> dict[str, object]:
        return {
            "computed": self.computed,
            "answer": self.answer,
            "winner": self.winner,
            "kind": self.kind,
            "values": [list(v) if isinstance(v, tuple) else v for v in self.values],
            "reason": self.reason,
        }


def compare(op: CompareOp, values: Sequence[str]) -> Outcome:
    """The index of the earliest / latest date or the largest / smallest number among `values`.

    earliest / latest read dates (falling back to numbers), largest / smallest read numbers (falling back to
    dates); every value must parse the same way, and the best must be unique."""
    if len(values) < 2:
        return Outcome(False, reason="fewer than two values to compare")
    readers = [("date", parse_date), ("number", parse_number)]
    if op in ("largest", "smallest"):
        readers.reverse()
    for kind, reader in readers:
        parsed = [reader(v) for v in values]
        if any(p is None for p in parsed):
            continue
        keys: list[object] = list(parsed)
        best = min(keys) if op in ("earliest", "smallest") else max(keys)  # type: ignore[type-var]
        winners = [i for i, k in enumerate(keys) if k == best]
        if len(winners) > 1:
            return Outcome(False, kind=kind, values=tuple(keys), reason="tie")
        return Outcome(True, winner=winners[0], kind=kind, values=tuple(keys))
    return Outcome(False, reason="unparsable: " + "; ".join(v for v in values if parse_date(v) is None)[:200])


# Countries and their demonyms: "American" and "United States" name the same value.
_DEMONYMS = {
    "american": "united states",
    "usa": "united states",
    "us": "united states",
    "united states of america": "united states",
    "british": "united kingdom",
    "uk": "united kingdom",
    "english": "england",
    "scottish": "scotland",
    "welsh": "wales",
    "irish": "ireland",
    "french": "france",
    "german": "germany",
    "italian": "italy",
    "spanish": "spain",
    "portuguese": "portugal",
    "dutch": "netherlands",
    "belgian": "belgium",
    "swiss": "switzerland",
    "austrian": "austria",
    "swedish": "sweden",
    "norwegian": "norway",
    "danish": "denmark",
    "finnish": "finland",
    "polish": "poland",
    "russian": "russia",
    "soviet": "soviet union",
    "ukrainian": "ukraine",
    "greek": "greece",
    "turkish": "turkey",
    "indian": "india",
    "pakistani": "pakistan",
    "chinese": "china",
    "japanese": "japan",
    "korean": "korea",
    "south korean": "south korea",
    "filipino": "philippines",
    "australian": "australia",
    "canadian": "canada",
    "mexican": "mexico",
    "brazilian": "brazil",
    "argentine": "argentina",
    "argentinian": "argentina",
    "egyptian": "egypt",
    "nigerian": "nigeria",
    "south african": "south africa",
    "iranian": "iran",
    "israeli": "israel",
    "hungarian": "hungary",
    "czech": "czech republic",
    "romanian": "romania",
    "new zealander": "new zealand",
}


def canonical_value(text: str) -> str:
    """A step answer as a comparable value: normalised, a demonym as its country, a place as its last part
    ("Paris, France" -> "france" only when compared with a bare country; see `equal`)."""
    value = normalize_answer(text)
    return _DEMONYMS.get(value, value)


def equal(a: str, b: str) -> bool:
    """Whether two step answers name the same value: equal once normalised, or one is the other's last
    comma-separated part ("Paris, France" and "France"), or dates that parse the same."""
    x, y = canonical_value(a), canonical_value(b)
    if not x or not y:
        return False
    if x == y:
        return True
    tails = {canonical_value(a.split(",")[-1]), canonical_value(b.split(",")[-1])}
    if (x in tails or y in tails) and len(tails) == 1:
        return True
    da, db = parse_date(a), parse_date(b)
    return da is not None and da == db and da[1] > 0


def equality(op: EqualityOp, values: Sequence[str]) -> Outcome:
    """yes / no: whether all values are the same (op same), not all the same (op different), or all yes (op
    all: "are A and B both X?" asked as "Is A X?" and "Is B X?")."""
    if len(values) < 2 or any(not normalize_answer(v) for v in values):
        return Outcome(False, kind="equality", reason="fewer than two values")
    if op == "all":
        verdicts = [_YES_NO.get(normalize_answer(v).split(" ")[0]) for v in values]
        if any(v is None for v in verdicts):
            return Outcome(False, kind="all", values=tuple(values), reason="a step answer is not yes or no")
        return Outcome(True, answer="yes" if all(verdicts) else "no", kind="all", values=tuple(verdicts))
    same = all(equal(values[0], v) for v in values[1:])
    answer = "yes" if same == (op == "same") else "no"
    return Outcome(True, answer=answer, kind="equality", values=tuple(canonical_value(v) for v in values))
