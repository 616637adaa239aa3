"""HTTP plumbing of the LabVantage adapter: settings, a ``requests`` session with retries and
timeouts, the REST connection id (opened on first use and re-opened once when LabVantage answers
401), paged SDC reads, actions, and the translation of HTTP outcomes into the port's typed errors.

Retries (urllib3 ``Retry``, exponential backoff) cover connection failures, dropped connections and
5xx answers. Actions are retried too, because every write limsai makes is idempotent in the LIMS
(drafts and tasks carry an idempotency key, a release leaves released versions as they are); the
one exception, the e-signature, is sent on a session that retries only failed connects, so a
signature is never recorded twice. What still fails after the retries is ``LimsUnavailable``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from limsai.lims.errors import LimsRejected, LimsUnavailable, NotFound

TRANSIENT_STATUS = (500, 502, 503, 504)


class LabVantageSettings(BaseModel):
    """How to reach one LabVantage instance. Details LabVantage does not publish (header, paging
    and action names, saved query ids, the draft attachment class) are settings; the defaults are
    what the simulator and the shipped install bundle use."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "labvantage"
    base_url: str
    username: str
    password: SecretStr
    database_id: str = "LV8"
    page_size: int = Field(default=1000, ge=1, le=5000)
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 60.0
    retries: int = Field(default=3, ge=0)
    backoff_s: float = 0.2
    connection_header: str = "connectionid"
    start_param: str = "startrow"
    size_param: str = "maxrows"
    attachment_class: str = "Draft"
    workflow_id: str = "LIMSAI_REVIEW"
    signature_action: str = "RecordESignature"
    release_action: str = "ReleaseSDIAttachment"
    instruments_query: str = "LIMSAI_INSTRUMENTS_IN_SCOPE"
    calibrations_query: str = "LIMSAI_CALIBRATIONS_IN_SCOPE"
    reagent_lots_query: str = "LIMSAI_REAGENTLOTS_IN_SCOPE"


def _session(retry: Retry) -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry, pool_maxsize=4)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    return str(body.get("message", "")) if isinstance(body, dict) else ""


class LabVantageClient:
    """One LabVantage instance over REST; ``http_calls`` counts the requests made (retries aside)."""

    def __init__(self, settings: LabVantageSettings) -> None:
        self.settings = settings
        self.base = settings.base_url.rstrip("/")
        self.http_calls = 0
        self._connection: str | None = None
        backoff = settings.backoff_s
        methods = frozenset({"GET", "PUT", "DELETE", "POST"})
        self._session = _session(
            Retry(
                total=settings.retries,
                connect=settings.retries,
                read=settings.retries,
                status=settings.retries,
                backoff_factor=backoff,
                status_forcelist=TRANSIENT_STATUS,
                allowed_methods=methods,
                raise_on_status=False,
            )
        )
        self._once = _session(
            Retry(
                total=settings.retries,
                connect=settings.retries,
                read=0,
                status=0,
                other=0,
                backoff_factor=backoff,
                allowed_methods=methods,
                raise_on_status=False,
            )
        )

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(LimsUnavailable, LimsRejected, NotFound):
                self._send("DELETE", f"/rest/connections/{self._connection}", auth=False)
            self._connection = None
        self._session.close()
        self._once.close()

    # -- transport --------------------------------------------------------------------------------
    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Mapping[str, Any] | None = None,
        auth: bool = True,
        retry_reads: bool = True,
    ) -> requests.Response:
        session = self._session if retry_reads else self._once
        headers = {"Accept": "application/json"}
        if auth:
            headers[self.settings.connection_header] = self._connect()
        self.http_calls += 1
        try:
            return session.request(
                method,
                self.base + path,
                params=params,
                json=json,
                headers=headers,
                timeout=(self.settings.connect_timeout_s, self.settings.read_timeout_s),
            )
        except requests.RequestException as exc:
            raise LimsUnavailable(
                f"LabVantage {self.settings.name} unreachable after {self.settings.retries} retries: "
                f"{type(exc).__name__}"
            ) from exc

    def _connect(self) -> str:
        if self._connection is None:
            body = {
                "databaseid": self.settings.database_id,
                "username": self.settings.username,
                "password": self.settings.password.get_secret_value(),
            }
            response = self._send("POST", "/rest/connections", json=body, auth=False)
            if response.status_code in (401, 403):
                raise LimsRejected(
                    f"LabVantage {self.settings.name} refused the REST connection ({response.status_code}): "
                    f"{_message(response)}"
                )
            self._checked(response, "POST /rest/connections")
            self._connection = str(response.json()["connectionid"])
        return self._connection

    def request(
        self, method: str, path: str, *, retry_reads: bool = True, **kwargs: Any
    ) -> requests.Response:
        """A call with the connection id; a 401 re-opens the connection once and repeats the call."""
        response = self._send(method, path, retry_reads=retry_reads, **kwargs)
        if response.status_code == 401:
            self._connection = None
            response = self._send(method, path, retry_reads=retry_reads, **kwargs)
        return self._checked(response, f"{method} {path}")

    def _checked(self, response: requests.Response, what: str) -> requests.Response:
        code = response.status_code
        if code < 400:
            return response
        detail = f"LabVantage {self.settings.name}: {what} answered {code}: {_message(response)}"
        if code >= 500:
            raise LimsUnavailable(detail + f" (after {self.settings.retries} retries)")
        if code == 404:
            raise NotFound(detail)
        raise LimsRejected(detail)

    # -- resources -----------------------------------------------------------------------------------
    def rows(self, resource: str, params: Mapping[str, str]) -> Iterator[dict[str, Any]]:
        """Every row of ``GET /rest/sdc/<resource>``, one call per page."""
        size = self.settings.page_size
        start = 1
        while True:
            page = {**params, self.settings.start_param: str(start), self.settings.size_param: str(size)}
            body = self.request("GET", f"/rest/sdc/{resource}", params=page).json()
            rows = body.get("data", [])
            yield from rows
            if body.get("morerows", "N") != "Y" or len(rows) < size:
                return
            start += size

    def action(self, name: str, props: Mapping[str, str], *, retry_reads: bool = True) -> dict[str, str]:
        """Run a LabVantage action; its ``output`` properties (strings)."""
        response = self.request("POST", f"/rest/actions/{name}", json=dict(props), retry_reads=retry_reads)
        body = response.json()
        if body.get("status") != "OK":
            raise LimsRejected(
                f"LabVantage {self.settings.name}: action {name} failed: {body.get('message', '')}"
            )
        output = body.get("output", {})
        return {str(k): str(v) for k, v in output.items()}

    def content(self, params: Mapping[str, str]) -> bytes:
        return self.request("GET", "/labservices/rc", params=params).content
