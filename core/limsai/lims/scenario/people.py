"""Sponsors, their canaries and the LIMS users of the reference CRO.

Each sponsor has its own study director, analysts, QA reviewer and project manager, all blinded;
each sponsor with a PK study also has one named unblinded user (the PK statistician who holds the
randomisation list); one LIMS administrator sees every sponsor. Names come from fixed pools and are
drawn with the seed; the canary is a per-sponsor marker planted in the sponsor's records so that a
leak into another sponsor's output shows up in a plain substring search.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass

from limsai.lims.scenario.catalog import SPONSORS
from limsai.model import ALL_SPONSORS, Principal, Role, Sponsor

FIRST_NAMES: tuple[str, ...] = (
    "Ingrid",
    "Mateo",
    "Priya",
    "Tomasz",
    "Aoife",
    "Kenji",
    "Fatima",
    "Lukas",
    "Chiara",
    "Olusegun",
    "Marta",
    "Hugo",
    "Sanne",
    "Rafael",
    "Yuki",
    "Elena",
    "Daniel",
    "Noor",
    "Henrik",
    "Lucia",
    "Arjun",
    "Camille",
    "Stefan",
    "Mei",
    "Jonas",
    "Amara",
    "Pieter",
    "Sofia",
    "Ravi",
    "Claire",
    "Bogdan",
    "Leila",
    "Tobias",
    "Ana",
    "Emeka",
    "Freya",
)
SURNAMES: tuple[str, ...] = (
    "Lindqvist",
    "Alvarez",
    "Raman",
    "Nowak",
    "Byrne",
    "Tanaka",
    "Haddad",
    "Becker",
    "Conti",
    "Adeyemi",
    "Kowalczyk",
    "Moreau",
    "de Vries",
    "Santos",
    "Okafor",
    "Petrova",
    "Fischer",
    "Rahman",
    "Johansson",
    "Romero",
    "Iyer",
    "Laurent",
    "Hofmann",
    "Chen",
    "Weber",
    "Mensah",
    "Jansen",
    "Greco",
    "Patel",
    "Dubois",
    "Popescu",
    "Karimi",
    "Schmid",
    "Ferreira",
    "Eze",
    "Holm",
    "Novak",
    "Brennan",
    "Sato",
)

ANALYSTS_PER_SPONSOR = 3


@dataclass(frozen=True)
class Staff:
    """The users who act on one sponsor's studies."""

    sponsor_id: str
    study_director: str
    analysts: tuple[str, ...]
    qa_reviewer: str
    project_manager: str
    unblinded: str | None


@dataclass(frozen=True)
class People:
    sponsors: list[Sponsor]
    users: list[Principal]
    staff: dict[str, Staff]
    canaries: dict[str, str]
    admin: str


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


class _NamePool:
    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used_names: set[str] = set()
        self._used_ids: set[str] = set()

    def person(self) -> tuple[str, str]:
        """A new (user id, display name) pair, unique within the scenario."""
        while True:
            first = self._rng.choice(FIRST_NAMES)
            last = self._rng.choice(SURNAMES)
            display = f"{first} {last}"
            user_id = _ascii(f"{first[0]}{last}".replace(" ", "")).lower()
            if display not in self._used_names and user_id not in self._used_ids:
                self._used_names.add(display)
                self._used_ids.add(user_id)
                return user_id, display


def build_people(rng: random.Random, pk_sponsors: set[str]) -> People:
    """Sponsors with canaries, per-sponsor staff (with an unblinded user for each sponsor in
    ``pk_sponsors``) and the LIMS administrator."""
    pool = _NamePool(rng)
    sponsors: list[Sponsor] = []
    users: list[Principal] = []
    staff: dict[str, Staff] = {}
    canaries: dict[str, str] = {}
    for spec in SPONSORS:
        canary = f"CANARY-{spec.tag}-{rng.getrandbits(32):08x}"
        canaries[spec.sponsor_id] = canary
        sponsors.append(Sponsor(sponsor_id=spec.sponsor_id, name=spec.name, canary=canary))
        scope = (spec.sponsor_id,)

        def add(
            roles: tuple[Role, ...], title: str = "", unblinded: bool = False, scope: tuple[str, ...] = scope
        ) -> str:
            user_id, display = pool.person()
            name = f"{title} {display}".strip()
            users.append(
                Principal(
                    user_id=user_id, display_name=name, roles=roles, sponsors=scope, unblinded=unblinded
                )
            )
            return user_id

        director = add((Role.STUDY_DIRECTOR,), "Dr.")
        analysts = tuple(add((Role.ANALYST,)) for _ in range(ANALYSTS_PER_SPONSOR))
        qa = add((Role.QA_REVIEWER,))
        pm = add((Role.PROJECT_MANAGER,))
        unblinded = add((Role.ANALYST,), "Dr.", unblinded=True) if spec.sponsor_id in pk_sponsors else None
        staff[spec.sponsor_id] = Staff(spec.sponsor_id, director, analysts, qa, pm, unblinded)
    admin_id, admin_name = pool.person()
    users.append(
        Principal(
            user_id=admin_id, display_name=admin_name, roles=(Role.LIMS_ADMIN,), sponsors=(ALL_SPONSORS,)
        )
    )
    return People(sponsors, users, staff, canaries, admin_id)
