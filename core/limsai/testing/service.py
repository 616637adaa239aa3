"""Start a real ``limsai serve`` process on loopback for tests and benchmarks, and sign requests the
way a LIMS caller does."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from limsai.runtime.auth import read_payload
from limsai.runtime.auth import signed_headers as auth_headers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_service(workdir: Path, secrets: dict[str, str], *, job_workers: int = 2) -> Iterator[str]:
    """``limsai serve`` on a free loopback port with the given caller secrets; yields the base URL."""
    port = free_port()
    env = {**os.environ, **{f"LIMSAI_CALLER_{name.upper()}_SECRET": s for name, s in secrets.items()}}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "limsai.cli",
            "serve",
            "--workdir",
            str(workdir),
            "--port",
            str(port),
            "--job-workers",
            str(job_workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"service did not start: {proc.stderr.read().decode() if proc.stderr else ''}"
                )
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def signed_headers(instance: str, secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """A LIMS caller's headers for a JSON request (see :func:`limsai.runtime.auth.signed_headers`)."""
    return {
        **auth_headers(instance, secret.encode(), body, timestamp=timestamp),
        "Content-Type": "application/json",
    }


def post_run(base: str, instance: str, secret: str, run: dict[str, Any], **kw: Any) -> requests.Response:
    body = json.dumps(run).encode()
    return requests.post(
        f"{base}/v1/runs", data=body, headers=signed_headers(instance, secret, body, **kw), timeout=10
    )


def get_signed(base: str, path: str, instance: str, secret: str) -> requests.Response:
    headers = signed_headers(instance, secret, read_payload("GET", path))
    return requests.get(f"{base}{path}", headers=headers, timeout=10)
