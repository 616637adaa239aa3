"""A LabVantage REST simulator: a real HTTP server on loopback serving an embedded reference store
the way LabVantage 8's REST Web Services do, so the adapter is tested over the wire it will meet.

* ``POST /rest/connections`` with ``{"databaseid", "username", "password"}`` → ``{"connectionid"}``;
  ``GET|PUT|DELETE /rest/connections/<id>`` check, ping (renew) and clear it. Every other call
  carries the id in the ``connectionid`` header; an unknown or expired id answers 401.
* ``GET /rest/sdc/<resource>[/<keyid1>[/<sub>]]`` (see :mod:`limsai_labvantage.sim_reads`),
  ``GET /rest/actions`` (the actions usable over REST), ``POST /rest/actions/<Action>``
  (see :mod:`limsai_labvantage.sim_actions`), and ``GET /labservices/rc?command=ViewAttachment…``.
* A :class:`RestPolicy` enables resources; everything is disabled by default (403), as in LabVantage.
* :class:`Faults` inject latency, 500s, dropped connections and expired connection ids at run time,
  from Python or with ``POST /_sim/faults``.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from limsai.lims.embedded import EmbeddedLims
from limsai.lims.errors import LimsError, LimsRejected, LimsUnavailable, NotFound
from limsai.lims.port import StudyScope
from limsai_labvantage.sdcs import NULL_KEY, SPECS
from limsai_labvantage.sim_actions import ACTIONS
from limsai_labvantage.sim_reads import attachment_number, read_sdc, read_sub

DEFAULT_USER = "limsai"
DEFAULT_PASSWORD = "limsai-simulator"
DATABASE_ID = "LV8"


@dataclass
class RestPolicy:
    """Which REST resources are enabled (LabVantage's RESTPolicy): all off unless listed."""

    connections: bool = False
    sdcs: set[str] = field(default_factory=set)
    actions: set[str] = field(default_factory=set)
    attachments: bool = False

    @classmethod
    def everything(cls) -> RestPolicy:
        return cls(connections=True, sdcs=set(SPECS) | {"samples"}, actions=set(ACTIONS), attachments=True)


@dataclass
class Faults:
    """Faults the next requests meet: ``latency_s`` on every request, ``fail_next`` requests answer
    500, ``drop_next`` requests have their connection closed without an answer."""

    latency_s: float = 0.0
    fail_next: int = 0
    drop_next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self) -> str | None:
        with self.lock:
            if self.drop_next > 0:
                self.drop_next -= 1
                return "drop"
            if self.fail_next > 0:
                self.fail_next -= 1
                return "fail"
        return None


class LabVantageSimulator:
    """The simulator over the embedded store at ``store`` (a path or an open :class:`EmbeddedLims`)."""

    def __init__(
        self,
        store: EmbeddedLims | Path,
        *,
        policy: RestPolicy | None = None,
        users: dict[str, str] | None = None,
        connection_ttl_s: float = 1800.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.lims = store if isinstance(store, EmbeddedLims) else EmbeddedLims(store)
        self.policy = policy if policy is not None else RestPolicy()
        self.users = users if users is not None else {DEFAULT_USER: DEFAULT_PASSWORD}
        self.connection_ttl_s = connection_ttl_s
        self.faults = Faults()
        self.requests = 0
        self.requests_by_path: dict[str, int] = {}
        self._connections: dict[str, float] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> LabVantageSimulator:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="labvantage-sim", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def lims_settings(self, workdir: Path, name: str) -> dict[str, str]:
        """The ``[lims.<name>]`` table for this simulator (credentials written into ``workdir``)."""
        from limsai_labvantage.harness import simulator_instance

        return simulator_instance(self, workdir, name)

    def __enter__(self) -> LabVantageSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- connections ------------------------------------------------------------------------------
    def open_connection(self, username: str, password: str, database: str) -> str:
        expected = self.users.get(username)
        if expected is None or not secrets.compare_digest(expected, password) or database != DATABASE_ID:
            raise PermissionError("invalid username, password or databaseid")
        token = secrets.token_hex(16)
        with self._lock:
            self._connections[token] = time.monotonic() + self.connection_ttl_s
        return token

    def connection_valid(self, token: str | None, *, renew: bool = False) -> bool:
        with self._lock:
            expiry = self._connections.get(token or "")
            if expiry is None or expiry < time.monotonic():
                self._connections.pop(token or "", None)
                return False
            if renew:
                self._connections[token or ""] = time.monotonic() + self.connection_ttl_s
            return True

    def clear_connection(self, token: str) -> bool:
        with self._lock:
            return self._connections.pop(token, None) is not None

    def expire_connections(self) -> None:
        """Every open connection id expires now (the next call with one answers 401)."""
        with self._lock:
            self._connections.clear()

    def count(self, path: str) -> None:
        with self._lock:
            self.requests += 1
            self.requests_by_path[path] = self.requests_by_path.get(path, 0) + 1


def _envelope(code: int, message: str, output: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "output": output or {},
        "code": code,
        "message": message,
        "status": "OK" if code < 400 else "ERROR",
    }


def _error_code(exc: LimsError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, LimsUnavailable):
        return 503
    return 400 if isinstance(exc, LimsRejected) else 500


def _handler(sim: LabVantageSimulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(self, code: int, body: Any, content_type: str = "application/json") -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            try:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                return  # the client gave up (a timeout or an injected drop): nobody to answer

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b"{}"
            try:
                parsed = json.loads(raw or b"{}")
            except ValueError as exc:
                raise LimsRejected("the request body is not JSON") from exc
            if not isinstance(parsed, dict):
                raise LimsRejected("the request body must be a JSON object")
            return parsed

        def _serve(self, method: str) -> None:
            split = urlsplit(self.path)
            parts = [unquote(p) for p in split.path.strip("/").split("/") if p]
            params = dict(parse_qsl(split.query, keep_blank_values=True))
            if parts[:1] == ["_sim"]:
                self._admin(method, parts)
                return
            sim.count(split.path)
            if sim.faults.latency_s:
                time.sleep(sim.faults.latency_s)
            fault = sim.faults.take()
            if fault == "drop":
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if fault == "fail":
                self._body()
                self._send(500, _envelope(500, "simulated internal server error"))
                return
            try:
                self._route(method, parts, params)
            except PermissionError as exc:
                self._send(403, _envelope(403, str(exc)))
            except LimsError as exc:
                code = _error_code(exc)
                self._send(code, _envelope(code, str(exc)))

        def _admin(self, method: str, parts: list[str]) -> None:
            if method != "POST" or parts[1:] != ["faults"]:
                self._send(404, _envelope(404, "unknown simulator control"))
                return
            body = self._body()
            with sim.faults.lock:
                sim.faults.latency_s = float(body.get("latency_s", sim.faults.latency_s))
                sim.faults.fail_next = int(body.get("fail_next", sim.faults.fail_next))
                sim.faults.drop_next = int(body.get("drop_next", sim.faults.drop_next))
            if body.get("expire_connections"):
                sim.expire_connections()
            self._send(200, _envelope(200, "faults set"))

        def _route(self, method: str, parts: list[str], params: dict[str, str]) -> None:
            if parts[:2] == ["rest", "connections"]:
                self._connections(method, parts[2:])
                return
            if parts[:1] == ["labservices"] and method == "GET":
                self._authorised(sim.policy.attachments, "attachments")
                self._view_attachment(params)
                return
            if parts[:1] != ["rest"] or len(parts) < 2:
                raise NotFound(f"no resource {'/'.join(parts)!r}")
            if parts[1] == "sdc" and method == "GET" and len(parts) in (3, 4, 5):
                self._authorised(parts[2] in sim.policy.sdcs, f"SDC {parts[2]}")
                if len(parts) == 3:
                    self._send(200, read_sdc(sim.lims, parts[2], params))
                elif len(parts) == 4:
                    self._send(200, read_sdc(sim.lims, parts[2], {**params, "keyid1": parts[3]}))
                else:
                    self._send(200, read_sub(sim.lims, parts[2], parts[3], parts[4], params))
                return
            if parts[1] == "actions" and method == "GET" and len(parts) == 2:
                self._authorised(True, "actions")
                self._send(200, {"code": 200, "status": "OK", "actions": sorted(sim.policy.actions)})
                return
            if parts[1] == "actions" and method == "POST" and len(parts) == 3:
                self._authorised(parts[2] in sim.policy.actions, f"action {parts[2]}")
                action = ACTIONS.get(parts[2])
                if action is None:
                    raise NotFound(f"no action {parts[2]!r}")
                body = self._body()
                props = {str(k): "" if v is None else str(v) for k, v in body.items()}
                output = action(sim.lims, props)
                self._send(200, _envelope(200, f"Action {parts[2]} executed successfully", output))
                return
            raise NotFound(f"no resource {method} {'/'.join(parts)!r}")

        def _authorised(self, enabled: bool, what: str) -> None:
            if not enabled:
                raise PermissionError(f"{what} is not enabled in the REST policy")
            if not sim.connection_valid(self.headers.get("connectionid")):
                self._body()
                raise _Unauthorised

        def _connections(self, method: str, rest: list[str]) -> None:
            if not sim.policy.connections:
                raise PermissionError("connections are not enabled in the REST policy")
            if method == "POST" and not rest:
                body = self._body()
                token = sim.open_connection(
                    str(body.get("username", "")),
                    str(body.get("password", "")),
                    str(body.get("databaseid", "")),
                )
                self._send(200, {"connectionid": token, "code": 200, "status": "OK"})
                return
            if len(rest) != 1 or method not in ("GET", "PUT", "DELETE"):
                raise NotFound("no such connections resource")
            if method == "DELETE":
                ok = sim.clear_connection(rest[0])
            else:
                ok = sim.connection_valid(rest[0], renew=method == "PUT")
            if not ok:
                raise NotFound("connection id unknown or expired")
            self._send(200, {"connectionid": rest[0], "code": 200, "status": "OK"})

        def _view_attachment(self, params: dict[str, str]) -> None:
            if params.get("command") != "ViewAttachment" or params.get("sdcid") != "LV_Study":
                raise NotFound("only command=ViewAttachment on sdcid LV_Study is served")
            study, sponsor = params.get("keyid1", ""), params.get("u_sponsorid", "")
            number, revision = params.get("attachmentnum", ""), params.get("revision", "")
            if not (number.isdigit() and revision.isdigit()) or params.get("keyid2", NULL_KEY) != NULL_KEY:
                raise LimsRejected("ViewAttachment needs keyid1, keyid2=(null), attachmentnum and revision")
            rows = sim.lims.db.query(
                "SELECT document_id FROM documents WHERE study_id = ? AND sponsor_id = ? AND version = ?",
                (study, sponsor, int(revision)),
            )
            matches = [r[0] for r in rows if attachment_number(r[0]) == int(number)]
            if not matches:
                raise NotFound(f"attachment {number} revision {revision} not found on study {study}")
            content = sim.lims.get_document_content(
                StudyScope(sponsor_id=sponsor, study_id=study), matches[0], int(revision)
            )
            self._send(200, content, "application/octet-stream")

        def _dispatch(self, method: str) -> None:
            try:
                self._serve(method)
            except _Unauthorised:
                self._send(401, _envelope(401, "connection id missing, unknown or expired"))
            except (BrokenPipeError, ConnectionResetError, OSError):
                self.close_connection = True

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PUT(self) -> None:
            self._dispatch("PUT")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

    return Handler


class _Unauthorised(Exception):
    """The request carries no valid connection id."""


def start_simulator(workdir: Path) -> LabVantageSimulator:
    """The simulator over ``workdir/lims.db`` with every resource enabled (the demo's and the
    ``limsai_adapters`` hook's ``start_simulator``); stop it with ``.stop()``."""
    return LabVantageSimulator(workdir / "lims.db", policy=RestPolicy.everything()).start()
