"""A plan of typed steps (Self-Ask, MIRAGE): single-hop lookup steps that may use earlier steps' answers as
#k, and a final operation over the steps' answers.

The LLM writes the plan (schema-constrained JSON, `reasoning.prompts.PLAN`); this module checks it and
repairs what it can (a reference to a later step, an operation over steps that do not exist, choices
missing from a comparison), so that the search always executes a well-formed plan. An unusable reply
gives the one-step plan "the question itself", and the trace says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

from reasoning.operations import COMPARE_OPS, EQUALITY_OPS
from reasoning.prompts import FINAL_OPERATIONS, PLAN, plan_prompt
from reasoning.structured import JsonCaller
from reasoning.text import content_words, expected_answer_type, normalize_answer

FinalOperation = Literal["answer", "earliest", "latest", "largest", "smallest", "same", "different", "all", "compose"]
assert get_args(FinalOperation) == FINAL_OPERATIONS
MAX_STEPS = 5
_REF = re.compile(r"#(\d)")
_CHOICES = re.compile(r"[,:]\s*([^,:?]+?)\s+or\s+([^,?]+?)\s*\??\s*$", re.I)


@dataclass(frozen=True)
class Plan:
    steps: tuple[str, ...]  # single-hop questions; #k is the answer of step k (1-based)
    operation: FinalOperation
    over: tuple[int, ...]  # the steps (1-based) the operation reads
    choices: tuple[str, ...] = ()  # a comparison's options, one per step in `over`
    source: str = "llm"  # llm | fallback | none
    note: str = ""  # what was repaired

    def refs(self, step: int) -> tuple[int, ...]:
        """The earlier steps (1-based) that step `step` uses."""
        return tuple(dict.fromkeys(int(k) for k in _REF.findall(self.steps[step - 1])))

    @property
    def is_comparison(self) -> bool:
        return self.operation in COMPARE_OPS

    @property
    def is_equality(self) -> bool:
        return self.operation in EQUALITY_OPS

    def to_json(self) -> dict[str, Any]:
        return {
            "steps": list(self.steps),
            "operation": self.operation,
            "over": list(self.over),
            "choices": list(self.choices),
            "source": self.source,
            "note": self.note,
        }


def single_step(question: str, source: str) -> Plan:
    return Plan((question,), "answer", (1,), source=source)


def make_plan(question: str, llm: JsonCaller, *, use_llm: bool = True) -> Plan:
    """The question's plan, recorded in the trace as a `plan` event."""
    if not use_llm:
        plan = single_step(question, "none")
    else:
        reply = llm(PLAN, [plan_prompt(question)])[0]
        plan = parse_plan(question, reply)
    llm.trace.record("plan", **plan.to_json())
    return plan


def parse_plan(question: str, reply: dict[str, Any] | None) -> Plan:
    """A checked plan from the LLM's reply; the single-step plan when the reply has no usable steps."""
    raw = (reply or {}).get("steps")
    if not isinstance(raw, list):
        return single_step(question, "fallback")
    notes: list[str] = []
    steps: list[str] = []
    for item in raw[:MAX_STEPS]:
        text = " ".join(str(item).split())
        if len(text) < 4 or any(_same_step(text, s) for s in steps):
            continue
        bad = [int(k) for k in _REF.findall(text) if not 1 <= int(k) <= len(steps)]
        if bad:  # a reference to itself or a later step cannot be executed
            notes.append(f"step {text!r} refers to #{bad[0]} before it is answered: reference dropped")
            text = _drop_refs(text, set(bad))
        steps.append(text)
    if not steps:
        return single_step(question, "fallback")
    operation = str((reply or {}).get("operation", "answer"))
    if operation not in FINAL_OPERATIONS:
        notes.append(f"unknown operation {operation!r}: the last step's answer")
        operation = "answer"
    over = tuple(
        dict.fromkeys(int(k) for k in (reply or {}).get("over") or [] if isinstance(k, int) and 1 <= k <= len(steps))
    )
    choices = tuple(" ".join(str(c).split()) for c in (reply or {}).get("choices") or [] if str(c).strip())
    if operation == "answer":  # the answer is the last lookup's: a plan does not look up past its answer
        if over and over[-1] != len(steps):
            notes.append(f"answer of step {over[-1]} named: the last step's answer")
        steps, chained = _chain_unused(steps)
        if chained:
            notes.append(f"steps {chained} named what an earlier step asked about instead of using its answer: #k")
        asked = _answer_step(question, steps)
        if asked < len(steps):
            notes.append(f"the question asks for a {answer_kind(question)}: step {asked}'s answer, later steps dropped")
            steps = steps[:asked]
        over, choices = (len(steps),), ()
    elif operation in COMPARE_OPS:
        options = choices if len(choices) >= 2 else question_choices(question)
        compared = _steps_of_options(steps, options) if len(options) >= 2 else None
        if compared is None and len(options) >= 2 and len(over) == len(options):
            compared = over  # the LLM's steps, in the order of the options
        if compared is not None:
            steps, bridged = _bridge_compared(steps, compared, options)
            if bridged:
                notes.append(f"compared steps {bridged} asked about the option, not the person a 'Who' step found")
        if compared is None:
            notes.append(f"{operation} without options to choose among, or steps about them: the last step's answer")
            operation, over, choices = "answer", (len(steps),), ()
        else:
            if (compared, options) != (over, choices):
                notes.append(f"compared steps {list(compared)} for the options {list(options)}")
            over, choices = compared, options
            stated = stated_direction(question)
            if stated is not None and stated != operation and operation in ("earliest", "latest"):
                notes.append(f"the question asks for the {stated}: {operation} corrected")
                operation = stated
    elif operation in EQUALITY_OPS:
        yes_no = len(over) >= 2 and all(expected_answer_type(steps[k - 1]) == "yes/no" for k in over)
        if operation == "same" and yes_no:
            notes.append("same over yes/no steps: all (is every answer yes?)")
            operation = "all"
        elif operation == "all" and not yes_no and (said := _SAME_OR_DIFFERENT.search(question)):
            operation = "same" if said.group(1).lower() == "same" else "different"
            notes.append(f"all over steps that are not yes/no, and the question asks whether they are {operation}")
        if len(over) < 2:
            over = _last_independent(steps)
            notes.append(f"{operation} over fewer than two steps: over {list(over)}")
        if len(over) < 2:
            notes.append(f"{operation} needs two steps: the last step's answer")
            operation, over = "answer", (len(steps),)
        choices = ()
    else:  # compose reads every step
        over, choices = tuple(range(1, len(steps) + 1)), ()
    return Plan(tuple(steps), cast(FinalOperation, operation), over, choices, "llm", "; ".join(notes))


_EARLIER = re.compile(r"\b(older|oldest|born first|earlier|earliest|first|sooner)\b", re.I)
_LATER = re.compile(r"\b(younger|youngest|later|latest|more recent(ly)?|most recent(ly)?|last)\b", re.I)


def stated_direction(question: str) -> str | None:
    """earliest / latest where the question's comparative says which, unambiguously (older, born first ->
    earliest; younger, more recent -> latest); None otherwise."""
    earlier, later = bool(_EARLIER.search(question)), bool(_LATER.search(question))
    if earlier == later:
        return None
    return "earliest" if earlier else "latest"


_SAME_OR_DIFFERENT = re.compile(r"\b(same|different)\b", re.I)
_ANSWER_KINDS = (
    ("person", re.compile(r"^(who|whom|whose)\b", re.I)),
    ("date", re.compile(r"^(when|(in |during )?(what|which) (year|date|month|decade|century))\b", re.I)),
    ("place", re.compile(r"^(where|(in |from )?(what|which) (city|town|country|state|county|place|region))\b", re.I)),
    ("quantity", re.compile(r"^how (many|much|long|tall|old|large|big|far|high)\b", re.I)),
)


def answer_kind(question: str) -> str | None:
    """What kind of answer a question's opening asks for (person, date, place, quantity), where it says."""
    text = question.strip()
    return next((kind for kind, pattern in _ANSWER_KINDS if pattern.match(text)), None)


def _answer_step(question: str, steps: list[str]) -> int:
    """The step whose answer answers the question: the last step, unless the question's opening asks for a
    kind of answer (who, when, where, how many), the last step asks for no such kind and an earlier step
    asks for the question's ("Who was known as Aladin and helped ...?": the "Who ...?" step, not a later
    "What did #1 ...?"). A last step that asks for another kind ("Where did #1 work?" for "Who is the
    employer of ...?") is the planner's reading of the question, and stays."""
    kind = answer_kind(question)
    if kind is None or answer_kind(steps[-1]) is not None:
        return len(steps)
    same_kind = [number for number, text in enumerate(steps, start=1) if answer_kind(text) == kind]
    return same_kind[-1] if same_kind else len(steps)


_TOKEN = re.compile(r"'s\b|[\w.-]+")


def _shared_phrase(later: str, earlier: str) -> str | None:
    """The longest run of words `later` repeats from `earlier` that holds a capitalised name (the opening
    question word of each left out), as `later` writes it; None when they share none."""
    a = [(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(later)][1:]
    b = [m.group(0) for m in _TOKEN.finditer(earlier)][1:]
    best: tuple[int, int] | None = None  # (first, last) token of `a`
    for i in range(len(a)):
        for j in range(len(b)):
            n = 0
            while i + n < len(a) and j + n < len(b) and a[i + n][0] == b[j + n]:
                n += 1
            while n and a[i + n - 1][0] == "'s":
                n -= 1
            if n and any(w[0].isupper() for w, _, _ in a[i : i + n]) and (best is None or n > best[1] - best[0] + 1):
                best = (i, i + n - 1)
    return None if best is None else later[a[best[0]][1] : a[best[1]][2]]


def _chain_unused(steps: list[str]) -> tuple[list[str], list[int]]:
    """A step that uses no earlier answer but names what an earlier, unused step asked about ("Who played
    Susie in Miracle on 34th Street?", then "Who is Susie's sister?") asks about that step's answer: the
    name becomes #k. In a plan whose answer is its last step, an answer nothing uses is a chain left
    broken. Not after "of" ("Who directed Jaws?", "Where was the director of Jaws born?"): the relation
    around the name may be the earlier step's own, and is left as the planner wrote it."""
    fixed, chained = list(steps), []
    for j in range(1, len(fixed)):
        if _REF.search(fixed[j]):
            continue
        used = {int(k) for text in fixed for k in _REF.findall(text)}
        for k in range(j, 0, -1):  # the earlier steps, nearest first (k is 1-based)
            shared = None if k in used else _shared_phrase(fixed[j], fixed[k - 1])
            if shared is not None and not re.search(rf"\bof\s+{re.escape(shared)}", fixed[j]):
                fixed[j] = fixed[j].replace(shared, f"#{k}", 1)
                chained.append(j + 1)
                break
    return fixed, chained


def _steps_of_options(steps: list[str], options: tuple[str, ...]) -> tuple[int, ...] | None:
    """For each option, the last step about it: one that names it, or uses a step about it (#k). None when
    an option has no step of its own."""
    about: list[set[int]] = [set() for _ in options]
    for number, text in enumerate(steps, start=1):
        words = f" {normalize_answer(text)} "
        refs = {int(k) for k in _REF.findall(text)}
        for i, option in enumerate(options):
            if f" {normalize_answer(option)} " in words or refs & about[i]:
                about[i].add(number)
    owned = [a - set().union(*(b for j, b in enumerate(about) if j != i)) for i, a in enumerate(about)]
    if any(not o for o in owned):
        return None
    return tuple(max(o) for o in owned)


def _bridge_compared(
    steps: list[str], compared: tuple[int, ...], options: tuple[str, ...]
) -> tuple[list[str], list[int]]:
    """A compared step that names its option directly although an earlier "Who ..." step about the same
    option found a person ("Who directed A?", then "When was A born?") asks about that person: #k."""
    fixed, bridged = list(steps), []
    for number, option in zip(compared, options, strict=True):
        text, key = fixed[number - 1], f" {normalize_answer(option)} "
        if _REF.search(text) or key not in f" {normalize_answer(text)} ":
            continue
        earlier = [
            k for k in range(1, number)
            if key in f" {normalize_answer(fixed[k - 1])} " and fixed[k - 1].lower().startswith("who ")
        ]  # fmt: skip
        if earlier:
            pattern = re.compile(re.escape(option), re.I)
            if pattern.search(text):
                fixed[number - 1] = pattern.sub(f"#{earlier[-1]}", text, count=1)
                bridged.append(number)
    return fixed, bridged


def question_choices(question: str) -> tuple[str, ...]:
    """The options of a question that ends "..., X or Y?" (empty when it does not)."""
    match = _CHOICES.search(question)
    return tuple(m.strip() for m in match.groups()) if match else ()


def _same_step(a: str, b: str) -> bool:
    wa, wb = content_words(a), content_words(b)
    return a.lower() == b.lower() or (bool(wa) and wa == wb and _REF.findall(a) == _REF.findall(b))


def _last_independent(steps: list[str]) -> tuple[int, ...]:
    """The steps no later step uses (the leaves of the plan), as a comparison's default operands."""
    used = {int(k) for s in steps for k in _REF.findall(s)}
    return tuple(i for i in range(1, len(steps) + 1) if i not in used)


def _drop_refs(text: str, refs: set[int]) -> str:
    return " ".join(_REF.sub(lambda m: "" if int(m.group(1)) in refs else m.group(0), text).split())


def substitute(step: str, answers: dict[int, str]) -> str:
    """The step with each #k replaced by step k's answer."""
    return " ".join(_REF.sub(lambda m: answers.get(int(m.group(1)), m.group(0)), step).split())
