"""The LIMS-side artefacts: the Groovy callout computes the signature the limsai service verifies
(its string building re-run in Python on fixtures), sends the headers and body the service expects,
and the Workflow Task definition parses and wires the callout."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from limsai.runtime.auth import INSTANCE_HEADER, SIGNATURE_HEADER, sign, verify_request
from limsai.runtime.queue import RunRequest

LIMS = Path(__file__).resolve().parents[3] / "plugins" / "labvantage" / "lims"
GROOVY = (LIMS / "limsai_callout.groovy").read_text()
SECRET = b"0123456789abcdef0123456789abcdef-caller"


def _concat(expression: str, values: dict[str, str]) -> str:
    """Evaluate a Groovy ``a + "b" + c.toString()`` concatenation with ``values`` for the names."""
    out = []
    for term in (t.strip() for t in re.split(r"\s\+\s", expression)):
        literal = re.fullmatch(r'"([^"]*)"', term)
        name = term.removesuffix(".toString()")
        out.append(literal.group(1) if literal else values[name])
    return "".join(out)


def groovy_signature(secret: bytes, timestamp: int, body: str) -> str:
    """The Groovy ``signature`` function, its expressions taken from the script text."""
    function = GROOVY[GROOVY.index("String signature(") :]
    signed_expr = re.search(r"String signed = (.+)", function)
    result_expr = re.search(r"return (.+)", function)
    assert signed_expr and result_expr
    assert 'Mac.getInstance("HmacSHA256")' in function
    assert 'new SecretKeySpec(secret.getBytes("UTF-8"), "HmacSHA256")' in function
    assert 'mac.doFinal(signed.getBytes("UTF-8")).encodeHex()' in function
    signed = _concat(signed_expr.group(1), {"timestamp": str(timestamp), "body": body})
    hex_digest = hmac.new(secret, signed.encode(), hashlib.sha256).hexdigest()
    return _concat(result_expr.group(1), {"timestamp": str(timestamp), "hex": hex_digest})


def groovy_body(lims: str, milestone: str, study: str, by: str, step: str) -> str:
    """The Groovy ``canonicalBody``: a TreeMap (sorted keys) rendered by JsonOutput (compact)."""
    function = GROOVY[GROOVY.index("String canonicalBody(") : GROOVY.index("String signature(")]
    puts = dict(re.findall(r'body\.put\("(\w+)", ([^\n]+)\)', function))
    values = {"lims": lims, "milestone": milestone, "requestedBy": by, "step": step}
    body: dict[str, object] = {}
    for key, expression in puts.items():
        if expression.startswith("new TreeMap(["):
            fields = dict(re.findall(r'(\w+): (\w+|"\w+")', expression))
            body[key] = {k: v.strip('"') if v.startswith('"') else study for k, v in fields.items()}
        elif expression == "new TreeMap()":
            body[key] = {}
        else:
            body[key] = values[expression]
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def test_groovy_signature_matches_the_service_on_fixtures() -> None:
    body = groovy_body("labvantage_prod", "T3 pull complete", "AUR-STB-014", "sd.a", "package.assemble")
    for timestamp in (0, 1_767_225_600, 1_999_999_999):
        assert groovy_signature(SECRET, timestamp, body) == sign(SECRET, body.encode(), timestamp)
    headers = {
        INSTANCE_HEADER: "labvantage_prod",
        SIGNATURE_HEADER: groovy_signature(SECRET, 1_767_225_600, body),
    }
    instance = verify_request(
        headers, body.encode(), secret_for=lambda name: SECRET, guard=None, now=1_767_225_610
    )
    assert instance == "labvantage_prod"


def test_groovy_body_is_a_run_request() -> None:
    body = groovy_body("labvantage_prod", "T3 pull complete", "AUR-STB-014", "sd.a", "package.assemble")
    request = RunRequest.model_validate_json(body)
    assert (request.record.type, request.record.id, request.step) == (
        "study",
        "AUR-STB-014",
        "package.assemble",
    )
    assert set(json.loads(body)) == set(RunRequest.model_fields)


def test_groovy_sends_the_service_headers_to_v1_runs() -> None:
    assert f'setRequestProperty("{INSTANCE_HEADER}", instance)' in GROOVY
    assert f'setRequestProperty("{SIGNATURE_HEADER}", signature(secret, timestamp, body))' in GROOVY
    assert 'url + "/v1/runs"' in GROOVY and 'setRequestMethod("POST")' in GROOVY
    assert "System.currentTimeMillis() / 1000L" in GROOVY
    header = GROOVY.split("import ", 1)[0]
    for setting in ("LIMSAI_URL", "LIMSAI_INSTANCE", "LIMSAI_SECRET", "LIMSAI_STEP", "LIMSAI_LIMS"):
        assert setting in header and setting in GROOVY.split("import ", 1)[1]


def test_workflow_task_definition_parses_and_wires_the_callout() -> None:
    text = (LIMS / "limsai_review_task.xml").read_text()
    assert "What it does" in text and "What to configure" in text
    root = ET.fromstring(text.encode())
    assert (root.tag, root.get("taskdefid"), root.get("coreflag")) == ("taskdef", "LIMSAI_REVIEW", "U")
    steps = root.findall("./steps/step")
    assert [s.get("type") for s in steps] == ["ActionBlockStep", "MaintPageStep"]
    assert (LIMS / str(steps[0].get("script"))).is_file()
    variables = {v.get("name") for v in root.findall("./variables/variable")}
    assert {"LIMSAI_URL", "LIMSAI_INSTANCE", "LIMSAI_SECRET", "LIMSAI_STEP", "LIMSAI_LIMS"} <= variables
    secret = next(v for v in root.findall("./variables/variable") if v.get("name") == "LIMSAI_SECRET")
    assert secret.get("protected") == "Y" and secret.get("exposed") == "N"
