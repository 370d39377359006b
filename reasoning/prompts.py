"""The prompts of every LLM call, and their JSON schemas.

On a CPU the prompt is the cost, so prompts are small and built to share prefixes: every call starts
with the same system message (its worked examples are read once per process, then reused from the KV
cache), then the question, then the evidence in the order a chain gathered it (append-only, so round
r+1 reuses round r's prefix), and only then the part that differs by task.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from reasoning.llm.protocol import ChatMessage
from reasoning.structured import JsonCall, object_schema

SYSTEM = """You answer questions about a document collection from numbered evidence.
Rules: use only the evidence. An answer is a few words, never a sentence: a name, a date, a number, a short \
phrase, or yes/no for yes/no questions. Cite evidence as [n] in the facts, not in the answer. Reply with one \
JSON object only.

Examples of the tasks:
Question: Who directed the film that won Best Picture in 1998?
Task plan -> {"sub_questions": ["Which film won Best Picture in 1998?", "Who directed #1?"]}
Question: Which was founded first, Acme or Globex?
Task plan -> {"sub_questions": ["When was Acme founded?", "When was Globex founded?"]}
Question: Who directed the film that won Best Picture in 1998?
Evidence: [1] Titanic (1997 film): Titanic won Best Picture at the 1998 Academy Awards.
Task answer -> {"facts": "Titanic won in 1998 [1]; its director is not given.", "answer": "unknown", \
"next_query": "Titanic 1997 film director"}
Question: Which was founded first, Acme or Globex?
Evidence: [1] Acme: Acme was founded in 1950. [2] Globex: Globex, founded in 1962, makes tools.
Task answer -> {"facts": "Acme was founded in 1950 [1], Globex in 1962 [2].", "answer": "Acme", "next_query": ""}"""

ANSWER_STYLE = (
    "The answer is at most six words (a name, date, number or short phrase; yes or no for yes/no questions), "
    "never a sentence."
)


def chat(user: str) -> list[ChatMessage]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


@dataclass(frozen=True)
class EvidenceLine:
    number: int
    title: str
    text: str

    def render(self) -> str:
        return f"[{self.number}] {self.title}: {self.text}"


def evidence_block(lines: Sequence[EvidenceLine]) -> str:
    if not lines:
        return "Evidence: none yet.\n"
    return "Evidence:\n" + "\n".join(line.render() for line in lines) + "\n"


# --- decomposition ------------------------------------------------------------------------------------

CRITERIA = ("relevance", "specificity", "novelty", "bridge", "graph")

DECOMPOSE = JsonCall(
    "decompose",
    object_schema({"sub_questions": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 4}}),
    max_tokens=96,
)
DECOMPOSE_WITH_CRITERIA = JsonCall(
    "decompose",
    object_schema(
        {
            "sub_questions": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 4},
            "criteria": object_schema({c: {"type": "number"} for c in CRITERIA}),
        }
    ),
    max_tokens=150,
)


def decompose_prompt(question: str, *, with_criteria: bool) -> list[ChatMessage]:
    task = (
        "Task plan: split the question into 1-4 simple sub-questions, each about one entity, in the order they "
        "must be answered; refer to the answer of sub-question k as #k."
    )
    if with_criteria:
        task += (
            " Also weigh, from 0 to 1, what evidence for this question needs: relevance (on topic), specificity "
            "(states a precise fact), novelty (new information), bridge (links to the next entity), graph "
            "(connected to the named entities)."
        )
    return chat(f"Question: {question}\n{task}")


# --- one reasoning step of a chain --------------------------------------------------------------------


REASON = JsonCall(
    "reason",
    object_schema(
        {
            "facts": {"type": "string", "maxLength": 300},
            "answer": {"type": "string", "maxLength": 48},
            "next_query": {"type": "string", "maxLength": 120},
        }
    ),
    max_tokens=128,
    confidence_of="answer",  # the reader's confidence in its answer, a feature of the critics
)


def reason_prompt(
    question: str,
    evidence: Sequence[EvidenceLine],
    plan: Sequence[str],
    *,
    last_round: bool,
    always_answer: bool = False,
) -> list[ChatMessage]:
    """The reasoning step of a chain. Before its last round a chain may answer "unknown", unless
    `always_answer` (the critic, not the reader, then judges whether the answer is supported)."""
    steps = "\n".join(f"{i}. {step}" for i, step in enumerate(plan, start=1))
    if last_round:
        final = "This is the last round: give your best answer from the evidence."
    elif always_answer:
        final = "Give your best answer from the evidence so far, even if it is not certain yet."
    else:
        final = 'If the evidence is not enough yet, answer is "unknown".'

    task = (
        f"Steps to answer it:\n{steps}\n"
        "Task answer: facts states what the evidence says for each step, citing [n]; answer answers the question "
        f"itself, not a step. {final} next_query is a short search query for the first fact still missing "
        "(empty if answered). " + ANSWER_STYLE
    )
    return chat(f"Question: {question}\n{evidence_block(evidence)}{task}")


# --- the critic -----------------------------------------------------------------------------------------

CRITIC = JsonCall(
    "critic",
    object_schema(
        {
            "sufficient": {"type": "boolean"},
            "confidence": {"type": "number"},
            "missing": {"type": "string", "maxLength": 120},
        }
    ),
    max_tokens=60,
)


def critic_prompt(question: str, evidence: Sequence[EvidenceLine], answer: str) -> list[ChatMessage]:
    task = (
        f'Candidate answer: "{answer}".\nTask check: does the evidence fully support this answer to the '
        "question, every hop included? sufficient is true or false; confidence from 0 to 1; missing is a short "
        "search query for what is still missing (empty if nothing)."
    )
    return chat(f"Question: {question}\n{evidence_block(evidence)}{task}")


# --- verification -------------------------------------------------------------------------------------

VERIFY = JsonCall(
    "verify",
    object_schema({"supported": {"type": "boolean"}, "answer": {"type": "string", "maxLength": 80}}),
    max_tokens=48,
)


def verify_prompt(question: str, evidence: Sequence[EvidenceLine], answer: str) -> list[ChatMessage]:
    task = (
        f'Proposed answer: "{answer}".\nTask verify: is the proposed answer correct according to the evidence? '
        "supported is true or false; answer is the correct short answer from the evidence (the proposed one if "
        'supported, "unknown" if the evidence does not say). ' + ANSWER_STYLE
    )
    return chat(f"Question: {question}\n{evidence_block(evidence)}{task}")


# --- LLM-judged reranking -----------------------------------------------------------------------------

JUDGE = JsonCall(
    "judge",
    object_schema({"scores": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 3}}}),
    max_tokens=64,
)


def judge_prompt(question: str, sub_question: str, candidates: Sequence[EvidenceLine]) -> list[ChatMessage]:
    task = (
        f"Sub-question: {sub_question}\nTask judge: score each candidate [n] in order from 0 (useless) to 3 (states "
        "the fact the sub-question needs), one integer per candidate."
    )
    return chat(f"Question: {question}\nCandidates:\n" + "\n".join(c.render() for c in candidates) + f"\n{task}")


# --- reading (rag, ppr, direct) -------------------------------------------------------------------------

READ = JsonCall(
    "read",
    object_schema({"facts": {"type": "string", "maxLength": 300}, "answer": {"type": "string", "maxLength": 48}}),
    max_tokens=120,
)


def read_prompt(question: str, evidence: Sequence[EvidenceLine] | None) -> list[ChatMessage]:
    if evidence is None:
        task = "There is no evidence: answer from what you know. facts is one short sentence. " + ANSWER_STYLE
        return chat(f"Question: {question}\nTask read: {task}")
    task = (
        "Task read: state the facts the evidence gives for the question, citing [n], then your best answer "
        "from the evidence. " + ANSWER_STYLE
    )
    return chat(f"Question: {question}\n{evidence_block(evidence)}{task}")


# --- hop-by-hop reasoning: the plan, one hop's reading, a composed final answer ---------------------------

FINAL_OPERATIONS = ("answer", "earliest", "latest", "largest", "smallest", "same", "different", "all", "compose")

PLAN_SYSTEM = """Plan how to answer a question by looking facts up one at a time.
steps: simple questions, each about one named thing; a step may use the answer of step k as #k.
operation: how the final answer comes from the steps' answers: "answer" (the last step's answer); \
"earliest" / "latest" (compare dates: born first, older -> earliest; younger, more recent -> latest); \
"largest" / "smallest" (compare numbers); "same" / "different" (yes/no: are the answers the same?); \
"all" (yes/no: is every step's yes/no answer yes? for "are both ..."); "compose" (anything else). \
over: the steps compared. choices: for a comparison, the option of the question each compared step belongs to \
(what the question asks to choose). Reply with one JSON object only.

Examples:
Question: Who directed the film that won Best Picture in 1998?
{"steps": ["Which film won Best Picture in 1998?", "Who directed #1?"], "operation": "answer", "over": [2], \
"choices": []}
Question: Which novel's author was born later, Red Harbor or The Glass Road?
{"steps": ["Who wrote Red Harbor?", "Who wrote The Glass Road?", "When was #1 born?", "When was #2 born?"], \
"operation": "latest", "over": [3, 4], "choices": ["Red Harbor", "The Glass Road"]}
Question: Are Lake Mira and Lake Oro in the same country?
{"steps": ["Which country is Lake Mira in?", "Which country is Lake Oro in?"], "operation": "same", \
"over": [1, 2], "choices": []}
Question: Are Mira Vale and Tom Oro both painters?
{"steps": ["Is Mira Vale a painter?", "Is Tom Oro a painter?"], "operation": "all", "over": [1, 2], \
"choices": []}
Question: In which city was the founder of the company that makes the Zephyr phone born?
{"steps": ["Which company makes the Zephyr phone?", "Who founded #1?", "In which city was #2 born?"], \
"operation": "answer", "over": [3], "choices": []}"""

PLAN = JsonCall(
    "plan",
    object_schema(
        {
            "steps": {"type": "array", "items": {"type": "string", "maxLength": 160}, "minItems": 1, "maxItems": 5},
            "operation": {"type": "string", "enum": list(FINAL_OPERATIONS)},
            "over": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 5}, "maxItems": 5},
            "choices": {"type": "array", "items": {"type": "string", "maxLength": 100}, "maxItems": 5},
        }
    ),
    max_tokens=200,
)


def plan_prompt(question: str) -> list[ChatMessage]:
    return [{"role": "system", "content": PLAN_SYSTEM}, {"role": "user", "content": f"Question: {question}"}]


HOP_SYSTEM = """You answer one simple question from a few numbered passages.
The answer is a short span copied from the passages: a name, a date (as written, with day, month and year \
when given), a number or a short phrase; yes or no for a yes/no question. Give what is asked as precisely as \
the passages say it: for "where", the city or town when they name one, not only the country. If the passages \
do not answer the question, the answer is "unknown". Reply with one JSON object only.

Example:
Passages:
[1] Titanic (1997 film): Titanic is a 1997 American epic romance film directed by James Cameron.
[2] James Cameron: James Francis Cameron (born August 16, 1954) is a Canadian filmmaker.
Question: When was James Cameron born?
{"answer": "August 16, 1954"}"""

HOP_READ = JsonCall(
    "hop",
    object_schema({"answer": {"type": "string", "maxLength": 80}}),
    max_tokens=32,
    confidence_of="answer",  # the reader's confidence in its hop answer scores the path
)


def hop_prompt(step: str, passages: Sequence[EvidenceLine]) -> list[ChatMessage]:
    user = "Passages:\n" + "\n".join(p.render() for p in passages) + f"\nQuestion: {step}"
    return [{"role": "system", "content": HOP_SYSTEM}, {"role": "user", "content": user}]


COMPOSE_SYSTEM = """You answer a question from facts already found, one per line as "question -> answer".
Reply with one JSON object only: {"answer": "..."}."""

COMPOSE = JsonCall("compose", object_schema({"answer": {"type": "string", "maxLength": 80}}), max_tokens=40)


def with_choices(call: JsonCall, choices: Sequence[str]) -> JsonCall:
    """`call` with its "answer" field held to `choices` by the schema (a comparison's options): the reader
    names an option, not a sentence about it."""
    if not choices:
        return call
    properties = dict(call.schema["properties"]) | {"answer": {"type": "string", "enum": list(choices)}}
    return replace(call, schema=object_schema(properties, call.schema["required"]))


def compose_prompt(question: str, findings: Sequence[str], instruction: str = "") -> list[ChatMessage]:
    """The final answer from what the steps found (`findings`, one "question -> answer" line each)."""
    facts = "\n".join(f"- {f}" for f in findings)
    task = (
        f"Facts found:\n{facts}\nQuestion: {question}\n{instruction}Answer the question from these facts. "
        + ANSWER_STYLE
    )
    return [{"role": "system", "content": COMPOSE_SYSTEM}, {"role": "user", "content": task}]
