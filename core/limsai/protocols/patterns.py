"""The regular expressions and vocabularies of the deterministic extractor, in one place so that
reviewers (and the LLM extractor's comparison) can see exactly what it recognises."""

from __future__ import annotations

import re

PROTOCOL_LABELLED = re.compile(
    r"(?i)protocol\s*(?:number|no\.?|id|code)\s*[:#]?\s*(?-i:([A-Z0-9][A-Z0-9\-_/.]*\d[A-Z0-9\-_/]*))"
)
PROTOCOL_BARE = re.compile(r"\bProtocol\s+([A-Z0-9]+(?:-[A-Z0-9]+)+)(?:\([a-z]\))?")
NCT = re.compile(r"\bNCT\d{8}\b")
EUDRACT = re.compile(r"(?i)eudract(?:\s+(?:number|no\.?))?\s*:?\s*(\d{4}-\d{6}-\d{2})\b")
EUCT = re.compile(r"\b(\d{4}-5\d{5}-\d{2}-\d{2})\b")
SPONSOR_LABELLED = re.compile(r"(?im)^[ \t]*sponsor(?:\s+name)?[ \t]*:[ \t]*(\S[^\n]*?)[ \t]*$")
COPYRIGHT = re.compile(
    r"Copyright\s*(?:©|\(c\))?\s*\d{4}\s+([A-Z][^\n.]*?)(?:\s+and\s+Company)?\s*\.?[ \t]*$", re.M
)
PHASE = re.compile(r"\b[Pp]hase\s+(IV|I{1,3}|[1-4])(?:\s*/\s*(IV|I{1,3}|[1-4]))?[ab]?\b(?!\s*\))")
TITLE_LABELLED = re.compile(
    r"(?im)^[ \t]*(?:protocol\s+|official\s+|study\s+)?title[ \t]*:[ \t]*(\S[^\n]*?)[ \t]*$"
)
OBJECTIVE = re.compile(
    r"(?i)\b(primary|secondary|exploratory)\s+(objective|endpoint)s?(?:\s+of\s+this\s+study)?"
    r"\s*(?::|is|are)\s*(?:to\s+)?(\S[^\n]*(?:\n(?!\s*\n)[^\n]*)*?[.;])"
)
PK_CONTEXT = re.compile(r"(?i)pharmacokinetic|\bPK\b|plasma concentration|blood samples?")
HOURS = re.compile(r"(?i)\b(hours?|hrs?|h)\b")
TIMEPOINT = re.compile(
    r"(?i)\bpre-?dose\b|(?<![\w.])\d+(?:\.\d+)?(?=\s*(?:,|and\b|or\b|h\b|hours?\b|hrs?\b))"
)
TIME_CELL = re.compile(r"(?i)^\s*(pre-?dose|(\d+(?:\.\d+)?)\s*(?:h|hr|hrs|hours?))\s*$")
METHODS = re.compile(
    r"\b(LC-MS/MS|UHPLC-MS/MS|HPLC-UV|HPLC|UPLC|GC-MS|ICP-MS|ELISA|qPCR|Karl Fischer|"
    r"electrochemiluminescence|ligand[- ]binding assay|USP\s*<\d+>)"
)
MATRIX = re.compile(
    r"(?i)\b(K2EDTA plasma|K3EDTA plasma|lithium heparin plasma|plasma|serum|whole blood|urine|"
    r"cerebrospinal fluid|saliva|dried blood spots?|film-coated tablets|tablets|capsules)\b"
)
MATRIX_CONTEXT = re.compile(r"(?i)sample|matri|collected|determined|analy|measured|stored|packag")
TEMPERATURE = (
    r"(-?\d+(?:\.\d+)?\s*(?:-|\u2013|to)\s*-?\d+(?:\.\d+)?\s*°\s*C|[-\u2212]?\d+(?:\.\d+)?\s*°\s*C"
    r"(?:\s*(?:±|\+/-)\s*\d+\s*°\s*C)?(?:\s+or\s+(?:below|colder))?)"
)
STORAGE = re.compile(
    r"(?i)\b(?:store|stored|storage|kept|frozen)\b[^.]{0,80}?\bat\s+" + TEMPERATURE + r"(?!\s*/\s*\d)"
)
STORAGE_SUBJECTS = ("reference standard", "stock solution", "extract", "sample")
CONDITION = re.compile(r"(\d+)\s*°\s*C\s*/\s*(\d+)\s*%\s*RH")
PULL_CONTEXT = re.compile(r"(?i)pull points?|testing (?:time ?points|intervals)|time ?points")
MONTH_LIST = re.compile(r"(?<![\w.])\d+(?=\s*(?:,|and\b|months?\b))")
ACCEPTANCE = re.compile(
    r"(?i)(within\s+±\s*\d+(?:\.\d+)?\s*%(?:\s+of\s+(?:the\s+)?nominal)?(?:\s*\([^)]*\))?|"
    r"\bNLT\s+\d+(?:\.\d+)?\s*%|\bNMT\s+\d+(?:\.\d+)?\s*%|"
    r"\bLLOQ\s+(?:of\s+)?\d+(?:\.\d+)?\s*(?:ng|pg|µg|ug)/mL)"
)
DELIVERABLE = re.compile(r"(?i)\b(deliver|transfer|report|submit|provide)\w*\b")
FORMATS = re.compile(r"\b(SDTM(?:\s+[A-Z]{2})?|Dataset-JSON|XPT|SAS|Excel|PDF|CSV|SEND)\b")
TIMELINE = re.compile(r"(?i)within\s+\d+\s+(?:business\s+|working\s+|calendar\s+)?(?:days|weeks)")
UNCLEAR = re.compile(
    r"(?i)\b(TBD|to be (?:determined|confirmed|defined)|if needed|as appropriate|may be added|"
    r"at the discretion of)\b"
)
INJECTION = re.compile(
    r"(?i)\b(?:ignore|disregard|forget)\s+(?:all\s+|any\s+)?(?:the\s+)?(?:previous|prior|above|earlier)\s+"
    r"instructions?\b|\byou\s+are\s+(?:now\s+)?(?:an?\s+)?(?:ai|assistant|language model|chatbot)\b|"
    r"\bsystem prompt\b"
)
PHASES = {
    "I": ("C15600", "Phase I Trial"),
    "II": ("C15601", "Phase II Trial"),
    "III": ("C15602", "Phase III Trial"),
    "IV": ("C15603", "Phase IV Trial"),
    "I/II": ("C15693", "Phase I/II Trial"),
    "II/III": ("C15694", "Phase II/III Trial"),
}
ROMAN = {"1": "I", "2": "II", "3": "III", "4": "IV"}
