"""Detection of suspected prompt injection in document text that is about to enter a prompt.

Documents (protocols, SOPs, sponsor correspondence) reach a prompt only as delimited data, and nothing
in them can change scope, call a tool or alter state: the LLM layer has no tools and the gateway
decides scope. A document that *tries* is still worth a reviewer's attention, so the attempt is
flagged with its span and carried into the draft's flags. The scan is deliberately broad (a false
flag costs a glance; a missed one hides an attack):

* ``direct_instruction``: "ignore the previous instructions", "from now on", "you are now" …
* ``fake_system_prompt``: role markers and chat-template tokens (``system:``, ``<|im_start|>``,
  ``[INST]``, ``<<SYS>>``) and closing tags of our own delimiters (``</facts>``, ``</document>``);
* ``hidden_text``: zero-width and bidirectional-control characters, Unicode tag characters, HTML
  comments and styles that hide text (``display:none``, zero font size, white text);
* ``other_sponsor_data``: requests for other sponsors' or clients' data, or naming a sponsor id other
  than the document's own;
* ``action_request``: asks to approve, release, sign, delete or change records, call a tool or send
  data somewhere;
* ``prompt_exfiltration``: asks to reveal or repeat the prompt or instructions;
* ``jailbreak``: role-play and "developer mode" style overrides.

Phrases are matched on the text with invisible characters removed (so splitting a word with zero-width
spaces does not hide it); spans refer to the original text.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict

InjectionKind = Literal[
    "direct_instruction",
    "fake_system_prompt",
    "hidden_text",
    "other_sponsor_data",
    "action_request",
    "prompt_exfiltration",
    "jailbreak",
]

_INVISIBLE = re.compile(
    "[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\U000e0000-\U000e007f]"
)

_PATTERNS: dict[InjectionKind, list[str]] = {
    "direct_instruction": [
        r"\b(?:ignore|disregard|forget|override|bypass|skip)\b[^.\n]{0,40}?\b(?:previous|prior|above|earlier|preceding|"
        r"all|any|your|the|system|these)\b[^.\n]{0,30}?\b(?:instructions?|prompts?|rules|directions|guidelines|"
        r"constraints|context)\b",
        r"\bnew\s+instructions?\s*:",
        r"\b(?:from\s+now\s+on|henceforth)\b",
        r"\byou\s+(?:are|will)\s+now\b",
        r"\b(?:instead|rather)\s*,?\s+(?:write|output|say|respond|reply|state|report|answer)\b",
        r"\bdo\s+not\s+(?:follow|obey|apply)\b[^.\n]{0,30}\b(?:instructions?|rules|prompt)\b",
        r"\b(?:note|message|instruction)\s+(?:to|for)\s+(?:the\s+)?(?:ai|llm|assistant|model|language\s+model|chatbot)\b",
        r"\b(?:ai|llm|assistant|model)\s*:\s*(?:please\s+)?(?:write|report|state|say|ignore|output)\b",
    ],
    "fake_system_prompt": [
        r"(?im)^\s*(?:#+\s*)?(?:system|assistant|developer)\s*(?:prompt|message)?\s*:",
        r"(?i)\[/?(?:system|inst|sys)\]",
        r"<<\s*/?SYS\s*>>",
        r"<\|\s*(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id)\s*\|>",
        r"(?i)</?\s*(?:system|facts|document|instructions?)\s*>",
        r"(?i)\bBEGIN\s+(?:SYSTEM|NEW)\s+(?:PROMPT|INSTRUCTIONS?)\b",
    ],
    "hidden_text": [
        r"<!--.*?-->",
        r"(?i)display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(?:\.\d+)?\s*(?:px|pt|em)?\s*[;\"']",
        r"(?i)color\s*:\s*(?:#fff(?:fff)?|white)\b|\bwhite\s+(?:text|font)\b|\bhidden\s+text\b",
    ],
    "other_sponsor_data": [
        r"\b(?:other|another|all|every|different)\s+(?:sponsors?|clients?|customers?|companies|tenants?)(?:'s|')?"
        r"[^.\n]{0,40}?\b(?:data|results?|studies|study|documents?|protocols?|reports?|records?|files?)\b",
        r"\b(?:list|show|give|include|export|retrieve|fetch|summari[sz]e)\b[^.\n]{0,30}?\ball\s+"
        r"(?:sponsors|studies|clients|customers)\b",
        r"\b(?:competitor|rival)(?:'s|s)?\b[^.\n]{0,40}?\b(?:data|results?|studies|formulations?)\b",
    ],
    "action_request": [
        r"\b(?:approve|release|sign|e-?sign|certify|close|delete|remove|erase|overwrite|invalidate)\b[^.\n]{0,30}?"
        r"\b(?:this|the|these|all|every)\b[^.\n]{0,20}?\b(?:results?|batch(?:es)?|lots?|studies|study|records?|"
        r"deviations?|investigations?|packages?|reports?|samples?|audit\s+trail)\b",
        r"\b(?:change|set|update|alter|modify|mark)\b[^.\n]{0,30}?\b(?:status|results?|values?|specifications?|limits?)"
        r"\b[^.\n]{0,30}?\b(?:to|as)\b",
        r"\bmark\b[^.\n]{0,30}?\bas\s+(?:approved|released|passed|compliant|valid|within\s+spec(?:ification)?)\b",
        r"\b(?:call|invoke|use|run|execute)\s+(?:the\s+)?(?:tool|function|api|endpoint|command|shell|plugin)\b",
        r"\b(?:send|post|upload|email|e-mail|forward|transmit|exfiltrate)\b[^.\n]{0,40}?\bto\b[^.\n]{0,10}?"
        r"(?:https?://|\S+@\S+|\bwebhook\b|\bserver\b|\baddress\b)",
        r"\bon\s+behalf\s+of\b[^.\n]{0,30}\b(?:sign|approve|release)\b",
    ],
    "prompt_exfiltration": [
        r"\b(?:reveal|print|show|repeat|output|display|disclose|leak|tell\s+me)\b[^.\n]{0,30}?\b(?:system\s+)?"
        r"(?:prompt|instructions|initial\s+message|hidden\s+rules)\b",
    ],
    "jailbreak": [
        r"\b(?:developer|god|debug|admin|jailbreak|unrestricted)\s+mode\b",
        r"\bDAN\b",
        r"\b(?:pretend|act|behave)\s+(?:to\s+be|as\s+(?:if|though|an?|the))\b",
        r"\bno\s+(?:longer\s+)?(?:bound|restricted)\s+by\b",
    ],
}
_COMPILED: list[tuple[InjectionKind, re.Pattern[str]]] = [
    (kind, re.compile(p, re.IGNORECASE | re.DOTALL if kind == "hidden_text" else re.IGNORECASE))
    for kind, patterns in _PATTERNS.items()
    for p in patterns
]
_SPONSOR_ID = re.compile(r"\bSPN-[A-Z0-9]+(?:-[A-Z0-9]+)*\b")


class InjectionFlag(BaseModel):
    """One suspected injection: what kind, where in the original text, and the text found there."""

    model_config = ConfigDict(frozen=True)

    kind: InjectionKind
    start: int
    end: int
    excerpt: str


def _visible(text: str) -> tuple[str, list[int]]:
    """``text`` without invisible characters, and each kept character's index in ``text``."""
    kept: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(text):
        if not _INVISIBLE.match(ch):
            kept.append(ch)
            index.append(i)
    return "".join(kept), index


def scan(text: str, *, sponsor_id: str | None = None) -> list[InjectionFlag]:
    """Suspected injections in ``text``, by position; ``sponsor_id`` is the document's own sponsor
    (any other sponsor id in the text is flagged)."""
    flags: list[InjectionFlag] = []
    seen: set[tuple[str, int, int]] = set()

    def add(kind: InjectionKind, start: int, end: int) -> None:
        if (kind, start, end) not in seen:
            seen.add((kind, start, end))
            found = text[start:end]
            excerpt = _INVISIBLE.sub("", found) or " ".join(f"U+{ord(c):04X}" for c in found)
            flags.append(InjectionFlag(kind=kind, start=start, end=end, excerpt=excerpt[:120]))

    for m in re.finditer(_INVISIBLE.pattern + "+", text):
        add("hidden_text", m.start(), m.end())
    visible, index = _visible(text)
    for kind, pattern in _COMPILED:
        for m in pattern.finditer(visible):
            if m.end() > m.start():
                add(kind, index[m.start()], index[m.end() - 1] + 1)
    if sponsor_id is not None:
        for m in _SPONSOR_ID.finditer(visible):
            if m.group(0) != sponsor_id:
                add("other_sponsor_data", index[m.start()], index[m.end() - 1] + 1)
    return sorted(flags, key=lambda f: (f.start, f.kind))


def is_suspect(text: str, *, sponsor_id: str | None = None) -> bool:
    """Whether :func:`scan` finds anything."""
    return bool(scan(text, sponsor_id=sponsor_id))
