"""Caller authentication: the signature format, everything that makes a request unauthenticated, and
replay protection shared between processes through one SQLite file."""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.datastructures import Headers

from limsai.runtime.auth import (
    INSTANCE_HEADER,
    SIGNATURE_HEADER,
    AuthError,
    ReplayGuard,
    sign,
    signed_headers,
    verify_request,
)

SECRET = b"0123456789abcdef0123456789abcdef"
BODY = b'{"lims": "lv", "step": "qc.review", "record": "S-1"}'
T = 1_700_000_000
SECRETS = {"lv": SECRET}


@pytest.fixture
def guard(tmp_path: Path) -> Iterator[ReplayGuard]:
    with ReplayGuard(tmp_path / "callers.db") as g:
        yield g


def headers(instance: str = "lv", secret: bytes = SECRET, body: bytes = BODY, t: int = T) -> dict[str, str]:
    return {INSTANCE_HEADER: instance, SIGNATURE_HEADER: sign(secret, body, t)}


def verify(guard: ReplayGuard, hdrs: object, body: bytes = BODY, *, now: float = T, window: int = 300) -> str:
    assert isinstance(hdrs, dict | Headers)
    return verify_request(hdrs, body, secret_for=SECRETS.get, guard=guard, window_seconds=window, now=now)


def reason(guard: ReplayGuard, hdrs: object, body: bytes = BODY, *, now: float = T) -> str:
    with pytest.raises(AuthError) as caught:
        verify(guard, hdrs, body, now=now)
    return caught.value.reason


def test_sign_known_answer() -> None:
    expected = hmac.new(SECRET, b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY, T) == f"t=1700000000,v1={expected}"
    assert hmac.new(b"key", b"0.", hashlib.sha256).hexdigest() == (
        "85841b4efc3cd7776c3c8f9b7cca9e281c550e5d19889d78e9e669c6337f000d"
    )
    assert sign(b"key", b"", 0) == "t=0,v1=85841b4efc3cd7776c3c8f9b7cca9e281c550e5d19889d78e9e669c6337f000d"


def test_sign_rejects_negative_time() -> None:
    with pytest.raises(ValueError, match="negative"):
        sign(SECRET, BODY, -1)


def test_round_trip(guard: ReplayGuard) -> None:
    assert verify(guard, headers()) == "lv"


def test_signed_headers(guard: ReplayGuard) -> None:
    hdrs = signed_headers("lv", SECRET, BODY, timestamp=T)
    assert hdrs == {INSTANCE_HEADER: "lv", SIGNATURE_HEADER: sign(SECRET, BODY, T)}
    assert verify(guard, hdrs) == "lv"
    assert (
        verify_request(signed_headers("lv", SECRET, b"now"), b"now", secret_for=SECRETS.get, guard=guard)
        == "lv"
    )


def test_header_names_are_case_insensitive(guard: ReplayGuard) -> None:
    hdrs = {k.lower(): v for k, v in headers().items()}
    assert verify(guard, hdrs) == "lv"
    upper = {k.upper(): v for k, v in headers(t=T + 1).items()}
    assert verify(guard, upper) == "lv"
    starlette = Headers(headers(t=T + 2))
    assert verify(guard, starlette) == "lv"


def test_wrong_secret(guard: ReplayGuard) -> None:
    assert reason(guard, headers(secret=b"another secret of thirty-two by.")) == "bad_signature"


def test_unknown_instance(guard: ReplayGuard) -> None:
    assert reason(guard, headers(instance="lw")) == "unknown_instance"


def test_an_empty_secret_is_no_secret(guard: ReplayGuard) -> None:
    with pytest.raises(AuthError) as caught:
        verify_request(headers(secret=b""), BODY, secret_for=lambda _: b"", guard=guard, now=T)
    assert caught.value.reason == "unknown_instance"


def test_missing_headers(guard: ReplayGuard) -> None:
    assert reason(guard, {INSTANCE_HEADER: "lv"}) == "missing_signature"
    assert reason(guard, {INSTANCE_HEADER: "lv", SIGNATURE_HEADER: ""}) == "missing_signature"
    assert reason(guard, {SIGNATURE_HEADER: sign(SECRET, BODY, T)}) == "missing_instance"
    assert reason(guard, {}) == "missing_signature"


@pytest.mark.parametrize(
    "value",
    [
        "v1=" + "0" * 64,
        "t=1700000000",
        "t=1700000000,v1=",
        "t=1700000000,v1=" + "0" * 63,
        "t=1700000000,v1=" + "0" * 65,
        "t=1700000000,v1=" + "A" * 64,
        "t=1700000000, v1=" + "0" * 64,
        "v1=" + "0" * 64 + ",t=1700000000",
        "t=-1,v1=" + "0" * 64,
        "t=1e9,v1=" + "0" * 64,
        "t=" + "\u0661" * 10 + ",v1=" + "0" * 64,  # Arabic-Indic digits
        "t=1" + "0" * 20 + ",v1=" + "0" * 64,
        "t=1700000000,v1=" + "0" * 64 + ",v0=" + "0" * 64,
    ],
)
def test_malformed_signature(guard: ReplayGuard, value: str) -> None:
    assert reason(guard, {INSTANCE_HEADER: "lv", SIGNATURE_HEADER: value}) == "malformed"


@pytest.mark.parametrize("instance", ["lv ", "-lv", "l v", "lv\n", "x" * 129])
def test_malformed_instance(guard: ReplayGuard, instance: str) -> None:
    assert reason(guard, headers(instance=instance)) == "malformed"


def test_duplicated_header_is_malformed(guard: ReplayGuard) -> None:
    good = sign(SECRET, BODY, T)
    twice = Headers(raw=[(b"x-limsai-instance", b"lv"), (b"x-limsai-signature", good.encode())] * 2)
    assert reason(guard, twice) == "malformed"


@pytest.mark.parametrize("offset", [-301, 301, -10_000, 10_000])
def test_expired_in_either_direction(guard: ReplayGuard, offset: int) -> None:
    with pytest.raises(AuthError, match="old" if offset > 0 else "in the future") as caught:
        verify(guard, headers(), now=T + offset)
    assert caught.value.reason == "expired"


@pytest.mark.parametrize("offset", [-300, -0.5, 0, 300])
def test_within_the_window(guard: ReplayGuard, offset: float) -> None:
    assert verify(guard, headers(), now=T + offset) == "lv"


def test_window_is_configurable(guard: ReplayGuard) -> None:
    assert verify(guard, headers(), now=T + 30, window=60) == "lv"
    with pytest.raises(AuthError) as caught:
        verify(guard, headers(t=T + 1), now=T + 62, window=60)
    assert caught.value.reason == "expired"


def test_replay_is_refused(guard: ReplayGuard) -> None:
    assert verify(guard, headers()) == "lv"
    assert reason(guard, headers(), now=T + 1) == "replayed"
    # the same body signed at another second is a new request
    assert verify(guard, headers(t=T + 1), now=T + 1) == "lv"


def test_replay_is_refused_across_guards_on_one_file(tmp_path: Path) -> None:
    with ReplayGuard(tmp_path / "callers.db") as first, ReplayGuard.for_workdir(tmp_path) as second:
        assert verify(first, headers()) == "lv"
        assert reason(second, headers(), now=T + 5) == "replayed"
        assert reason(first, headers(), now=T + 5) == "replayed"


def test_replay_guard_survives_reopening(tmp_path: Path) -> None:
    with ReplayGuard(tmp_path / "callers.db") as first:
        assert verify(first, headers()) == "lv"
    with ReplayGuard(tmp_path / "callers.db") as again:
        assert reason(again, headers(), now=T + 5) == "replayed"


def test_only_one_of_many_racing_guards_accepts(tmp_path: Path) -> None:
    guards = [ReplayGuard(tmp_path / "callers.db") for _ in range(8)]
    results: list[bool] = []
    barrier = threading.Barrier(len(guards))

    def race(g: ReplayGuard) -> None:
        barrier.wait()
        results.append(g.seen("lv", "f" * 64, T, now=T))

    threads = [threading.Thread(target=race, args=(g,)) for g in guards]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for g in guards:
        g.close()
    assert sorted(results) == [False] + [True] * 7


RACER = """
import sys, time
from pathlib import Path
from limsai.runtime.auth import ReplayGuard
guard = ReplayGuard(Path(sys.argv[1]))
while time.time() < float(sys.argv[2]):
    pass
print(guard.seen("lv", "e" * 64, 1700000000, now=1700000000))
"""


def test_only_one_of_many_racing_processes_accepts(tmp_path: Path) -> None:
    start = time.time() + 1.5
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(tmp_path / "callers.db"), str(start)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = sorted(racer.communicate(timeout=60)[0].strip() for racer in racers)
    assert outputs == ["False", "True", "True", "True"]


def test_seen_rows_are_purged_after_the_window(tmp_path: Path) -> None:
    path = tmp_path / "callers.db"
    with ReplayGuard(path) as g:
        assert g.seen("lv", "a" * 64, T, now=T) is False
        assert g.seen("lv", "a" * 64, T, now=T + 300) is True
        assert g.seen("lv", "b" * 64, T + 400, now=T + 400) is False  # purges rows older than T + 100
        with sqlite3.connect(path) as db:
            rows = db.execute("SELECT instance, signature, t FROM used_signatures").fetchall()
    assert rows == [("lv", "b" * 64, T + 400)]


def test_signatures_are_remembered_per_instance(tmp_path: Path) -> None:
    with ReplayGuard(tmp_path / "callers.db") as g:
        assert g.seen("lv", "c" * 64, T, now=T) is False
        assert g.seen("lw", "c" * 64, T, now=T) is False
        assert g.seen("lv", "c" * 64, T, now=T) is True


def test_body_tampering(guard: ReplayGuard) -> None:
    assert reason(guard, headers(), BODY.replace(b"S-1", b"S-2")) == "bad_signature"
    assert reason(guard, headers(), BODY + b" ") == "bad_signature"
    assert reason(guard, headers(), b"") == "bad_signature"


def test_failed_attempts_do_not_consume_the_signature(guard: ReplayGuard) -> None:
    assert reason(guard, headers(), b"tampered") == "bad_signature"
    assert reason(guard, headers(), now=T + 1000) == "expired"
    assert verify(guard, headers()) == "lv"


def test_messages_do_not_reveal_the_secret(guard: ReplayGuard) -> None:
    for hdrs, body in [(headers(), b"x"), (headers(instance="nobody"), BODY), (headers(), BODY)]:
        try:
            verify(guard, hdrs, body)
            verify(guard, hdrs, body)
        except AuthError as exc:
            assert SECRET.decode() not in str(exc)
            assert sign(SECRET, body, T).split("v1=")[1] not in str(exc)


def mutate(text: bytes, index: int, byte: int) -> bytes:
    index %= len(text)
    replacement = byte if byte != text[index] else (byte + 1) % 256
    return text[:index] + bytes([replacement]) + text[index + 1 :]


@settings(max_examples=300, deadline=None)
@given(index=st.integers(min_value=0), byte=st.integers(min_value=0, max_value=255))
def test_any_one_byte_change_of_the_body_fails(
    tmp_path_factory: pytest.TempPathFactory, index: int, byte: int
) -> None:
    with ReplayGuard(tmp_path_factory.mktemp("body") / "callers.db") as g:
        with pytest.raises(AuthError) as caught:
            verify(g, headers(), mutate(BODY, index, byte))
        assert caught.value.reason == "bad_signature"
        assert verify(g, headers()) == "lv"


@settings(max_examples=300, deadline=None)
@given(
    header=st.sampled_from([INSTANCE_HEADER, SIGNATURE_HEADER]),
    index=st.integers(min_value=0),
    byte=st.integers(min_value=0, max_value=255),
)
def test_any_one_byte_change_of_a_header_fails(
    tmp_path_factory: pytest.TempPathFactory, header: str, index: int, byte: int
) -> None:
    original = headers()
    changed = dict(original)
    changed[header] = mutate(original[header].encode("latin-1"), index, byte).decode("latin-1")
    with ReplayGuard(tmp_path_factory.mktemp("header") / "callers.db") as g:
        with pytest.raises(AuthError):
            verify(g, changed)
        assert verify(g, original) == "lv"
