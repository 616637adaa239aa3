"""Sponsor profiles: how each sponsor wants its data package laid out, named, rounded and approved.

A profile is a versioned YAML file, one per sponsor. It names the package (``package_name``, a
pattern over :data:`NAME_PLACEHOLDERS`), lists the tables in order with their columns, headings and
rounding, maps LIMS units to displayed units, and gives the output formats, the QC statement and
the roles that must approve the package.

Where a profile comes from (:func:`load_profile`), first match wins:

1. ``DIR/profiles/<sponsor_id>.yaml`` in the work directory, else
2. the profile shipped in this package (``limsai/packages/profiles/<sponsor_id>.yaml``), else
3. :func:`default_profile`: every table for its study types, every value as reported, every
   format, approval by the study director and QA.

A per-study file ``DIR/profiles/<sponsor_id>/<study_id>.yaml`` is then merged over that profile
shallowly: each top-level key it gives replaces the key as a whole (``tables`` is replaced, never
merged table by table); keys it leaves out keep the sponsor profile's value.

Rounding ``"as_reported"`` means the exact string the LIMS holds, never reformatted; a number of
decimals applies only to numeric fields. Every fault is reported by :class:`ProfileError` with the
file and the path inside it, e.g. ``tables[2].columns[0].field: 'foo' is not a field of
pk_concentrations``.
"""

from __future__ import annotations

import hashlib
import re
import string
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, Literal

import rfc8785
import yaml
from pydantic import BeforeValidator, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from limsai.governance.prompts import Version, _UniqueKeyLoader
from limsai.model import LimsModel, NonEmptyStr, Role, SignatureMeaning, StudyType

PROFILES_DIR = "profiles"
AS_REPORTED = "as_reported"

_STB, _PK, _OTHER = StudyType.STABILITY, StudyType.BIOANALYTICAL_PK, StudyType.OTHER


class TableKind(StrEnum):
    RESULTS_BY_TIMEPOINT = "results_by_timepoint"
    STABILITY_SUMMARY = "stability_summary"
    PK_CONCENTRATIONS = "pk_concentrations"
    SAMPLE_INVENTORY = "sample_inventory"
    DEVIATIONS = "deviations"
    CALIBRATIONS = "calibrations"
    REAGENT_LOTS = "reagent_lots"
    SPECIFICATIONS = "specifications"


TABLE_FIELDS: Mapping[TableKind, tuple[str, ...]] = {
    TableKind.RESULTS_BY_TIMEPOINT: (
        "condition", "timepoint", "batch", "sample_id", "test", "component", "replicate", "value",
        "units", "specification", "status", "analysed_at", "comment",
    ),
    TableKind.STABILITY_SUMMARY: (
        "condition", "timepoint", "batch", "test", "component", "n", "mean", "sd", "min", "max",
        "units", "specification", "conforms",
    ),
    TableKind.PK_CONCENTRATIONS: (
        "subject_id", "treatment_arm", "timepoint", "nominal_time_h", "sample_id", "analyte",
        "concentration", "units", "bql", "run_id", "status", "comment",
    ),
    TableKind.SAMPLE_INVENTORY: (
        "sample_id", "kind", "matrix", "batch", "condition", "timepoint", "subject_id",
        "storage_condition", "collected_at", "received_at", "parent_sample_id", "comment",
    ),
    TableKind.DEVIATIONS: (
        "deviation_id", "title", "category", "status", "opened_at", "description", "related_records",
    ),
    TableKind.CALIBRATIONS: (
        "instrument_id", "calibration_id", "valid_from", "valid_to", "performed_by", "certificate",
    ),
    TableKind.REAGENT_LOTS: ("lot_id", "reagent", "lot_number", "received_at", "expires_at"),
    TableKind.SPECIFICATIONS: ("test", "component", "kind", "min", "max", "text", "units", "method"),
}  # fmt: skip
"""The fields the renderer provides for each table, in their natural order."""

NUMERIC_FIELDS: Mapping[TableKind, frozenset[str]] = {
    TableKind.RESULTS_BY_TIMEPOINT: frozenset({"value"}),
    TableKind.STABILITY_SUMMARY: frozenset({"mean", "sd", "min", "max"}),
    TableKind.PK_CONCENTRATIONS: frozenset({"nominal_time_h", "concentration"}),
    TableKind.SPECIFICATIONS: frozenset({"min", "max"}),
}
"""The fields that may be given a number of decimals; every other field is always as reported."""

TABLE_STUDY_TYPES: Mapping[TableKind, tuple[StudyType, ...]] = {
    TableKind.RESULTS_BY_TIMEPOINT: (_STB, _OTHER),
    TableKind.STABILITY_SUMMARY: (_STB,),
    TableKind.PK_CONCENTRATIONS: (_PK,),
    TableKind.SAMPLE_INVENTORY: (_STB, _PK, _OTHER),
    TableKind.DEVIATIONS: (_STB, _PK, _OTHER),
    TableKind.CALIBRATIONS: (_STB, _PK, _OTHER),
    TableKind.REAGENT_LOTS: (_STB, _PK, _OTHER),
    TableKind.SPECIFICATIONS: (_STB, _OTHER),
}
"""The study types each table is relevant to (used by the default profile)."""

NAME_PLACEHOLDERS = frozenset(
    {"sponsor_id", "sponsor_code", "study_id", "protocol_number", "milestone_slug", "package_version"}
)
QC_PLACEHOLDERS = frozenset({"sponsor_id", "study_id", "protocol_number", "milestone", "package_name"})


class OutputFormat(StrEnum):
    DOCX = "docx"
    PDF = "pdf"
    XLSX = "xlsx"
    CSV = "csv"


class ProfileError(ValueError):
    """A profile is missing, unreadable or malformed; ``problems`` names each fault and where."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__(f"{source}: " + "; ".join(self.problems))


def _pattern(allowed: frozenset[str]) -> Callable[[str], str]:
    def check(text: str) -> str:
        try:
            parts = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise ValueError(f"is not a valid pattern ({exc})") from exc
        problems = []
        for _, name, spec, conversion in parts:
            if name is not None and name not in allowed:
                problems.append(f"unknown placeholder {{{name}}}; allowed: {', '.join(sorted(allowed))}")
            elif spec or conversion:
                problems.append(f"placeholder {{{name}}} may not carry a format or conversion")
        if problems:
            raise ValueError("; ".join(problems))
        return text

    return check  # the text's {placeholders} must be plain names from ``allowed``


def _rounding_rule(value: Any) -> Any:
    if value == AS_REPORTED or (type(value) is int and 0 <= value <= 10):
        return value
    raise ValueError(f'{value!r} is not a number of decimals from 0 to 10 or "as_reported"')


RoundingRule = Annotated[int | Literal["as_reported"], BeforeValidator(_rounding_rule)]
"""Decimals to round a numeric field to, or "as_reported": the exact LIMS string."""


def _raise_located(problems: list[tuple[str, str]]) -> None:
    """Report (path inside the model, message) pairs so that each keeps its own location."""
    if problems:
        summary = "; ".join(f"{where}: {message}" for where, message in problems)
        raise PydanticCustomError("profile", "{summary}", {"summary": summary, "items": problems})


class Column(LimsModel):
    field: NonEmptyStr
    heading: NonEmptyStr


class TableSpec(LimsModel):
    """One table of the package: which table, its title, its columns in order and their rounding."""

    table: TableKind
    title: NonEmptyStr
    columns: tuple[Column, ...] = Field(min_length=1)
    rounding: dict[str, RoundingRule] = Field(default_factory=dict)
    applies_to: tuple[StudyType, ...] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _fields_known(self) -> TableSpec:
        problems: list[tuple[str, str]] = []
        allowed, numeric = TABLE_FIELDS[self.table], NUMERIC_FIELDS.get(self.table, frozenset())
        shown: set[str] = set()
        for i, column in enumerate(self.columns):
            if column.field not in allowed:
                problems.append((f"columns[{i}].field", f"{column.field!r} is not a field of {self.table}"))
            elif column.field in shown:
                problems.append((f"columns[{i}].field", f"{column.field!r} is listed twice"))
            shown.add(column.field)
        for name, rule in self.rounding.items():
            if name not in shown:
                problems.append((f"rounding.{name}", f"{name!r} is not a column of this {self.table} table"))
            elif rule != AS_REPORTED and name not in numeric:
                problems.append((f"rounding.{name}", f"{name!r} is not numeric; only as_reported applies"))
        _raise_located(problems)
        return self

    def decimals(self, field: str) -> int | None:
        """Decimals to round ``field`` to; None means the exact LIMS string, as reported."""
        rule = self.rounding.get(field, AS_REPORTED)
        return None if rule == AS_REPORTED else int(rule)

    def applies(self, study_type: StudyType) -> bool:
        return self.applies_to is None or study_type in self.applies_to


class SponsorProfile(LimsModel):
    """How one sponsor wants its data package."""

    sponsor_id: NonEmptyStr
    version: Version
    package_name: Annotated[NonEmptyStr, Field(pattern=r"^[A-Za-z0-9_.{}-]+$")]
    tables: tuple[TableSpec, ...] = Field(min_length=1)
    units_display: dict[str, str] = Field(default_factory=dict)
    output_formats: tuple[OutputFormat, ...] = Field(min_length=1)
    qc_statement: NonEmptyStr
    reviewer_roles: tuple[Role, ...] = Field(min_length=1)
    signature_meanings: dict[Role, SignatureMeaning] = Field(default_factory=dict)

    _package_name_ok = field_validator("package_name")(_pattern(NAME_PLACEHOLDERS))
    _qc_statement_ok = field_validator("qc_statement")(_pattern(QC_PLACEHOLDERS))

    @field_validator("output_formats", "reviewer_roles")
    @classmethod
    def _unique(cls, values: tuple[Any, ...]) -> tuple[Any, ...]:
        if twice := sorted({str(v) for v in values if values.count(v) > 1}):
            raise ValueError(f"listed more than once: {', '.join(twice)}")
        return values

    @model_validator(mode="after")
    def _consistent(self) -> SponsorProfile:
        problems: list[tuple[str, str]] = []
        seen: set[TableKind] = set()
        for i, spec in enumerate(self.tables):
            if spec.table in seen:
                problems.append((f"tables[{i}].table", f"{spec.table} is listed more than once"))
            seen.add(spec.table)
        for role in self.signature_meanings:
            if role not in self.reviewer_roles:
                problems.append((f"signature_meanings.{role}", f"{role} is not one of the reviewer_roles"))
        _raise_located(problems)
        return self

    def tables_for(self, study_type: StudyType) -> tuple[TableSpec, ...]:
        """The tables, in order, that apply to a study of ``study_type``."""
        return tuple(spec for spec in self.tables if spec.applies(study_type))

    def display_units(self, units: str) -> str:
        """The units as the sponsor wants them shown (the LIMS units if the profile says nothing)."""
        return self.units_display.get(units, units)

    def render_qc_statement(self, **values: str) -> str:
        return self.qc_statement.format(**{name: values.get(name, "") for name in QC_PLACEHOLDERS})


def slug(text: str) -> str:
    """A file-name-safe, lowercase form of ``text``: "T12 pull complete" -> "t12-pull-complete"."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def render_package_name(
    profile: SponsorProfile,
    *,
    milestone: str,
    package_version: int | str,
    sponsor_code: str = "",
    study_id: str = "",
    protocol_number: str = "",
) -> str:
    """The package name from the profile's pattern; ``milestone`` is slugged, every value made
    file-name safe. A placeholder the pattern uses must have a non-empty value."""
    values = {
        "sponsor_id": profile.sponsor_id,
        "sponsor_code": sponsor_code,
        "study_id": study_id,
        "protocol_number": protocol_number,
        "milestone_slug": slug(milestone),
        "package_version": str(package_version),
    }
    safe = {name: re.sub(r"[^A-Za-z0-9_.-]+", "-", value).strip("-") for name, value in values.items()}
    used = {name for _, name, _, _ in string.Formatter().parse(profile.package_name) if name}
    if missing := sorted(name for name in used if not safe[name]):
        raise ValueError(f"package name needs a value for: {', '.join(missing)}")
    return profile.package_name.format(**safe)


def profile_sha256(profile: SponsorProfile) -> str:
    """sha256 of the profile's canonical JSON (RFC 8785): equal profiles hash equal, however written."""
    return hashlib.sha256(rfc8785.dumps(profile.model_dump(mode="json"))).hexdigest()


def default_profile(sponsor_id: str) -> SponsorProfile:
    """The conservative profile for a sponsor without one: every table for the study types it is
    relevant to, headed by its field names, every value as reported, every output format, approval
    by the study director and QA."""
    tables = [
        TableSpec(
            table=kind,
            title=kind.value.replace("_", " ").capitalize(),
            columns=tuple(Column(field=name, heading=name) for name in fields),
            applies_to=TABLE_STUDY_TYPES[kind],
        )
        for kind, fields in TABLE_FIELDS.items()
    ]
    return SponsorProfile(
        sponsor_id=sponsor_id,
        version="0",
        package_name="{sponsor_id}_{study_id}_{milestone_slug}_v{package_version}",
        tables=tuple(tables),
        output_formats=tuple(OutputFormat),
        qc_statement="The data in this package were transcribed from the LIMS for study {study_id} "
        "without change and checked against the source records.",
        reviewer_roles=(Role.STUDY_DIRECTOR, Role.QA_REVIEWER),
    )


def _location(loc: Sequence[Any]) -> str:
    where = ""
    for part in loc:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    return where


def _problems(exc: ValidationError) -> list[str]:
    errors = exc.errors()
    failed_within = {tuple(e["loc"][:n]) for e in errors for n in range(1, len(e["loc"]))}
    problems = []
    for error in errors:
        if error["type"] == "too_short" and tuple(error["loc"]) in failed_within:
            continue  # an item failed and so was not counted; the item's own error says why
        where = _location(error["loc"])
        items = (error.get("ctx") or {}).get("items")
        if items:
            problems += [f"{where}.{sub}: {msg}" if where else f"{sub}: {msg}" for sub, msg in items]
            continue
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "string_pattern_mismatch" and error["loc"] == ("package_name",):
            message = "may hold only letters, digits, '_', '.', '-' and {placeholders}"
        problems.append(f"{where or 'profile'}: {message}")
    return problems


def _read(data: bytes, source: str) -> dict[str, Any]:
    try:
        raw = yaml.load(data, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise ProfileError(source, [f"not valid YAML: {exc}"]) from exc
    if not isinstance(raw, dict):
        raise ProfileError(source, ["must be a mapping of profile keys"])
    return raw


def _validate(raw: Mapping[str, Any], source: str, sponsor_id: str) -> SponsorProfile:
    try:
        profile = SponsorProfile.model_validate(raw)
    except ValidationError as exc:
        raise ProfileError(source, _problems(exc)) from exc
    if profile.sponsor_id != sponsor_id:
        raise ProfileError(source, [f"sponsor_id: {profile.sponsor_id!r} is not {sponsor_id!r}"])
    return profile


def parse_profile(data: bytes, source: str, sponsor_id: str) -> SponsorProfile:
    """Validate the bytes of a profile file; raise :class:`ProfileError` naming each fault."""
    return _validate(_read(data, source), source, sponsor_id)


def _file_name(identifier: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", identifier):
        raise ProfileError(identifier, ["cannot name a profile file"])
    return f"{identifier}.yaml"


def load_profile(
    sponsor_id: str, *, workdir: Path | None = None, study_id: str | None = None
) -> SponsorProfile:
    """The sponsor's profile (work directory, else shipped, else default), with the study's
    override from ``DIR/profiles/<sponsor_id>/<study_id>.yaml`` merged over it key by key."""
    name = _file_name(sponsor_id)
    local = workdir / PROFILES_DIR / name if workdir is not None else None
    shipped = files(__package__ or "limsai.packages").joinpath(PROFILES_DIR, name)
    if local is not None and local.is_file():
        profile = parse_profile(local.read_bytes(), str(local), sponsor_id)
    elif shipped.is_file():
        profile = parse_profile(shipped.read_bytes(), str(shipped), sponsor_id)
    else:
        profile = default_profile(sponsor_id)
    if workdir is None or study_id is None:
        return profile
    override = workdir / PROFILES_DIR / sponsor_id / _file_name(study_id)
    if not override.is_file():
        return profile
    raw = _read(override.read_bytes(), str(override))
    return _validate({**profile.model_dump(mode="json"), **raw}, str(override), sponsor_id)
