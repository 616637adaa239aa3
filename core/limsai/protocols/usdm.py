"""USDM 4.0 output: a ``Wrapper-Input`` document built from :class:`ProtocolRequirements`, validated
at run time against the USDM 4.0 OpenAPI schema shipped in this package (``schema/USDM_API.json``)
with ``jsonschema`` (Draft 2020-12). A document that does not validate is never returned."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from itertools import pairwise
from typing import Any

from limsai.protocols.models import ProtocolRequirements

USDM_VERSION = "4.0.0"
SYSTEM = "limsai"
CDISC = "http://www.cdisc.org"
CT_VERSION = "2024-09-27"


class UsdmValidationError(ValueError):
    """A USDM document does not conform to the USDM 4.0 schema; the message names the first error."""


@cache
def usdm_schema() -> dict[str, Any]:
    text = resources.files("limsai.protocols").joinpath("schema/USDM_API.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def validate_usdm(document: dict[str, Any]) -> None:
    """Raise UsdmValidationError unless ``document`` is a valid USDM 4.0 ``Wrapper-Input``."""
    import jsonschema  # type: ignore[import-untyped]

    root = {**usdm_schema(), "$ref": "#/components/schemas/Wrapper-Input"}
    validator = jsonschema.Draft202012Validator(root)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(root)"
        raise UsdmValidationError(f"not a valid USDM {USDM_VERSION} document at {where}: {first.message}")


class _Ids:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def __call__(self, kind: str) -> str:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        return f"{kind}_{self.counts[kind]}"


def _code(ids: _Ids, code: str, decode: str) -> dict[str, Any]:
    return {
        "id": ids("Code"),
        "extensionAttributes": [],
        "code": code,
        "codeSystem": CDISC,
        "codeSystemVersion": CT_VERSION,
        "decode": decode,
        "instanceType": "Code",
    }


def _alias(ids: _Ids, code: str, decode: str) -> dict[str, Any]:
    return {
        "id": ids("AliasCode"),
        "extensionAttributes": [],
        "standardCode": _code(ids, code, decode),
        "standardCodeAliases": [],
        "instanceType": "AliasCode",
    }


def build_usdm(req: ProtocolRequirements, system_version: str = "1") -> dict[str, Any]:
    """The USDM 4.0 document of ``req`` (validated; UsdmValidationError otherwise)."""
    ids = _Ids()
    sponsor_name = req.sponsor.value if req.sponsor else "Unknown sponsor"
    sponsor_org: dict[str, Any] = {
        "id": ids("Organization"),
        "extensionAttributes": [],
        "name": sponsor_name,
        "label": sponsor_name,
        "type": _code(ids, "C54149", "Pharmaceutical Company"),
        "identifierScheme": "DUNS",
        "identifier": "unknown",
        "legalAddress": None,
        "managedSites": [],
        "instanceType": "Organization",
    }
    number = req.protocol_number.value if req.protocol_number else req.document_sha256[:12]
    identifiers = [
        {
            "id": ids("StudyIdentifier"),
            "extensionAttributes": [],
            "text": number,
            "scopeId": sponsor_org["id"],
            "instanceType": "StudyIdentifier",
        }
    ]
    titles = [
        {
            "id": ids("StudyTitle"),
            "extensionAttributes": [],
            "text": t.value,
            "type": _code(ids, "C99905x2", "Official Study Title"),
            "instanceType": "StudyTitle",
        }
        for t in req.titles
    ]
    encounters: list[dict[str, Any]] = [
        {
            "id": ids("Encounter"),
            "extensionAttributes": [],
            "name": e.value,
            "label": e.value,
            "description": "",
            "type": _code(ids, "C25716", "Visit"),
            "previousId": None,
            "nextId": None,
            "scheduledAtId": None,
            "environmentalSettings": [],
            "contactModes": [],
            "transitionStartRule": None,
            "transitionEndRule": None,
            "notes": [],
            "instanceType": "Encounter",
        }
        for e in req.encounters
    ]
    for before, after in pairwise(encounters):
        before["nextId"], after["previousId"] = after["id"], before["id"]
    activities: list[dict[str, Any]] = [
        {
            "id": ids("Activity"),
            "extensionAttributes": [],
            "name": a.value,
            "label": a.value,
            "description": "",
            "previousId": None,
            "nextId": None,
            "childIds": [],
            "definedProcedures": [],
            "biomedicalConceptIds": [],
            "bcCategoryIds": [],
            "bcSurrogateIds": [],
            "timelineId": None,
            "notes": [],
            "instanceType": "Activity",
        }
        for a in req.activities
    ]
    for before, after in pairwise(activities):
        before["nextId"], after["previousId"] = after["id"], before["id"]
    phase_code, phase_decode = ("C48660", "Not Applicable")
    if req.phase is not None:
        phase_code, phase_decode = req.phase.attributes.get("code", "C48660"), req.phase.value
    arm: dict[str, Any] = {
        "id": ids("StudyArm"),
        "extensionAttributes": [],
        "name": "Arm 1",
        "label": "",
        "description": "",
        "type": _code(ids, "C174266", "Investigational Arm"),
        "dataOriginDescription": "",
        "dataOriginType": _code(ids, "C188866", "Data Generated Within Study"),
        "populationIds": [],
        "notes": [],
        "instanceType": "StudyArm",
    }
    epoch: dict[str, Any] = {
        "id": ids("StudyEpoch"),
        "extensionAttributes": [],
        "name": "Epoch 1",
        "label": "",
        "description": "",
        "type": _code(ids, "C101526", "Treatment Epoch"),
        "previousId": None,
        "nextId": None,
        "notes": [],
        "instanceType": "StudyEpoch",
    }
    population: dict[str, Any] = {
        "id": ids("StudyDesignPopulation"),
        "extensionAttributes": [],
        "name": "Population",
        "label": "",
        "description": "",
        "includesHealthySubjects": False,
        "plannedEnrollmentNumber": None,
        "plannedCompletionNumber": None,
        "plannedSex": [],
        "criterionIds": [],
        "plannedAge": None,
        "notes": [],
        "cohorts": [],
        "instanceType": "StudyDesignPopulation",
    }
    design: dict[str, Any] = {
        "id": ids("InterventionalStudyDesign"),
        "extensionAttributes": [],
        "name": "Study design",
        "label": "",
        "description": "",
        "studyType": _code(ids, "C98388", "Interventional Study"),
        "studyPhase": _alias(ids, phase_code, phase_decode),
        "therapeuticAreas": [],
        "characteristics": [],
        "encounters": encounters,
        "activities": activities,
        "arms": [arm],
        "studyCells": [],
        "rationale": "Extracted from the protocol by limsai",
        "epochs": [epoch],
        "population": population,
        "objectives": [],
        "scheduleTimelines": [],
        "estimands": [],
        "interventionIds": [],
        "analysisPopulations": [],
        "documentVersionIds": [],
        "eligibilityCriteria": [],
        "biospecimenRetentions": [],
        "dictionaryId": None,
        "conditionIds": [],
        "notes": [],
        "model": _code(ids, "C82639", "Parallel Study"),
        "subTypes": [],
        "blindingSchema": None,
        "intentTypes": [],
        "instanceType": "InterventionalStudyDesign",
    }
    version: dict[str, Any] = {
        "id": ids("StudyVersion"),
        "extensionAttributes": [],
        "versionIdentifier": "1",
        "rationale": "Extracted from the protocol by limsai",
        "documentVersionIds": [],
        "dateValues": [],
        "amendments": [],
        "businessTherapeuticAreas": [],
        "studyIdentifiers": identifiers,
        "referenceIdentifiers": [],
        "studyDesigns": [design],
        "titles": titles,
        "eligibilityCriterionItems": [],
        "narrativeContentItems": [],
        "abbreviations": [],
        "roles": [],
        "organizations": [sponsor_org],
        "studyInterventions": [],
        "administrableProducts": [],
        "medicalDevices": [],
        "productOrganizationRoles": [],
        "biomedicalConcepts": [],
        "bcCategories": [],
        "bcSurrogates": [],
        "dictionaries": [],
        "conditions": [],
        "notes": [],
        "instanceType": "StudyVersion",
    }
    study: dict[str, Any] = {
        "id": None,
        "extensionAttributes": [],
        "name": number,
        "label": number,
        "description": "",
        "versions": [version],
        "documentedBy": [],
        "instanceType": "Study",
    }
    document: dict[str, Any] = {
        "study": study,
        "usdmVersion": USDM_VERSION,
        "systemName": SYSTEM,
        "systemVersion": system_version,
    }
    validate_usdm(document)
    return document
