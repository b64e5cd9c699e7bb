"""The results API over real HTTP (the ASGI app in-process), on SQLite and PostgreSQL.

Waves are planned with the command line over the sample structures, their attempts written with
measurements shaped as the channels store them, then scored with `prober score`. Every response
is checked against what `load_results` gives and against the API's own OpenAPI document.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import requests
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_spec_validator import validate
from requests.structures import CaseInsensitiveDict
from sqlalchemy import Engine
from sqlmodel import Session

from config.settings import load_settings
from prober.project.database import Database
from prober.results.grid import load_grid
from prober.results.published import load_results, structure_detail
from prober.web.access import TokenCheck, new_token, token_digest
from prober.web.api import openapi_document, project_api
from prober.web.workspace import create_workspace_app
from storage.claims import set_wave_status
from storage.db import make_engine, session_scope
from storage.models import WaveStatus
from storage.tokens import add_token
from tests.support.cli import SAMPLES, Run
from tests.support.loopback import serve
from tests.support.results_scene import email, latency, write_attempts


class PathTemplate:
    """An OpenAPI path template such as ``/api/waves/{wave}/results``."""

    def __init__(self, template: str) -> None:
        self.parts = template.strip("/").split("/")

    def matches(self, path: str) -> bool:
        parts = path.strip("/").split("/")
        return len(parts) == len(self.parts) and all(
            mine.startswith("{") or mine == theirs
            for mine, theirs in zip(self.parts, parts, strict=True)
        )


EMAIL = [
    email("replied", first_acknowledgement=latency(7200, 0),
           first_human_reply=latency(7200, 0)),
    email("replied", first_acknowledgement=latency(600, 0),
           first_automatic_acknowledgement=latency(600, 0),
           first_human_reply=latency(8 * 86400, 6)),
    email("bounced", bounce=latency(20, 0)),
    email("out_of_office", out_of_office=latency(30, 0)),
    email("sent"),
]  # fmt: skip


@pytest.fixture
def project(prober_cli: Run, database_url: str) -> Iterator[Engine]:
    """Waves `pre` (all 30 sample structures) and `post` (Alsace-Moselle) scored; `later`
    planned, never scored."""
    assert prober_cli("init").exit_code == 0
    assert prober_cli("structures", "import", str(SAMPLES / "structures.csv")).exit_code == 0
    engine = make_engine(database_url)
    waves = {
        "pre": ("2026-05-04", "2026-05-29", []),
        "post": ("2026-09-07", "2026-10-02", ["--panel", "departement=57,67,68"]),
        "later": ("2027-02-01", "2027-02-26", []),
    }
    for shift, (name, (start, end, panel)) in enumerate(waves.items()):
        created = prober_cli(
            "wave", "create", name, "--start", start, "--end", end, "--channels", "phone,email",
            *panel,
        )  # fmt: skip
        assert created.exit_code == 0, created.stderr
        assert prober_cli("wave", "plan", name, "--seed", "3").exit_code == 0
        if name != "later":
            write_attempts(engine, name, shift, EMAIL)
            scored = prober_cli("score", name)
            assert scored.exit_code == 0, scored.stderr
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def spec() -> OpenAPI:
    return OpenAPI.from_dict(openapi_document())


class Api:
    """The workspace listener's app as the daemon builds it, served by uvicorn on loopback and
    called over HTTP with a token."""

    def __init__(self, spec: OpenAPI, http: httpx.Client) -> None:
        self.spec = spec
        self.http = http

    def get(self, url: str, **params: str) -> httpx.Response:
        """GET ``url``; the response (and, when accepted, the request) must match the spec."""
        response = self.request("GET", url, params)
        check_against_spec(self.spec, response)
        return response

    def request(
        self, method: str, url: str, params: dict[str, str] | None = None
    ) -> httpx.Response:
        """``method`` on ``url``; a JSON response in any case."""
        response = self.http.request(method, url, params=params)
        assert response.headers["content-type"] == "application/json"
        return response


def check_against_spec(spec: OpenAPI, response: httpx.Response) -> None:
    """Raise unless the response (and a successful request) conforms to the OpenAPI document;
    an error from a path the document does not list must still be an ``Error``."""
    sent = response.request
    if response.status_code in (404, 405) and not any(
        PathTemplate(path).matches(sent.url.path) for path in openapi_document()["paths"]
    ):
        jsonschema.validate(response.json(), openapi_document()["components"]["schemas"]["Error"])
        return
    prepared = requests.Request(sent.method, str(sent.url), headers=dict(sent.headers)).prepare()
    converted = requests.Response()
    converted.status_code = response.status_code
    converted.headers = CaseInsensitiveDict(response.headers)
    converted._content = response.content
    converted.request = prepared
    converted.url = str(sent.url)
    request = RequestsOpenAPIRequest(prepared)
    if response.status_code < 400:
        spec.validate_request(request)
    spec.validate_response(request, RequestsOpenAPIResponse(converted))


@pytest.fixture
def api(project: Engine, spec: OpenAPI) -> Iterator[Api]:
    settings = load_settings()
    database = Database(make_engine(settings.effective_database_url))
    assert project_api(settings, database, TokenCheck(database)), "the grid should load"
    token = new_token()
    with Session(database.engine) as session:
        add_token(session, name="tests", sha256=token_digest(token), scopes=["results:read"])
        session.commit()
    app = create_workspace_app(settings, database)
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with (
            serve(app, lifespan="off") as base_url,
            httpx.Client(base_url=base_url, headers=headers) as http,
        ):
            yield Api(spec, http)
    finally:
        database.close()
        database.engine.dispose()


def expected_results(engine: Engine, wave: str) -> dict[str, Any]:
    """What `load_results` gives for ``wave``, as JSON."""
    settings = load_settings()
    with Session(engine) as session:
        results = load_results(session, wave, load_grid(settings, None), settings.scoring)
        as_json: dict[str, Any] = json.loads(json.dumps(results.to_json()))
        return as_json


def test_a_wave_s_results_are_load_results_filtered_and_paged(project: Engine, api: Api) -> None:
    expected = expected_results(project, "pre")
    everything = api.get("/api/waves/pre/results", limit="1000").json()
    assert everything == {**expected, "paging": {"total": 30, "offset": 0, "limit": 1000}}
    assert {row["structure"]["official_id"] for row in expected["results"]} == {
        line.split(",")[0] for line in (SAMPLES / "structures.csv").read_text().splitlines()[1:]
    }

    # Pages of 7 put together are the whole list, in order; past the end, an empty page.
    pages = [
        api.get("/api/waves/pre/results", limit="7", offset=str(offset)).json()
        for offset in (0, 7, 14, 21, 28)
    ]
    assert [row for page in pages for row in page["results"]] == expected["results"]
    assert [len(page["results"]) for page in pages] == [7, 7, 7, 7, 2]
    assert all(page["paging"]["total"] == 30 for page in pages)
    beyond = api.get("/api/waves/pre/results", offset="30").json()
    assert beyond["results"] == [] and beyond["paging"] == {"total": 30, "offset": 30, "limit": 100}

    def rows_where(**wanted: str) -> list[dict[str, Any]]:
        return [
            row for row in expected["results"]
            if all(row["structure"][key] == value for key, value in wanted.items())
        ]  # fmt: skip

    for key, value in [
        ("departement", "57"),
        ("region", "Grand Est"),
        ("kind", "mairie"),
        ("peer_group", expected["results"][0]["structure"]["peer_group"]),
    ]:
        found = api.get("/api/waves/pre/results", **{key: value}).json()
        assert found["results"] == rows_where(**{key: value}), key
        assert found["paging"]["total"] == len(rows_where(**{key: value})) > 0
    both = api.get("/api/waves/pre/results", region="Grand Est", kind="mairie").json()
    assert both["results"] == rows_where(region="Grand Est", kind="mairie")
    nobody = api.get("/api/waves/pre/results", departement="2A", kind="prefecture").json()
    assert nobody["results"] == [] and nobody["paging"]["total"] == 0

    # A channel: structures scored on it, showing only it.
    email = api.get("/api/waves/pre/results", channel="email", limit="1000").json()
    with_email = [row for row in expected["results"] if "email" in row["channels"]]
    assert email["paging"]["total"] == len(with_email) > 0
    assert email["national"] == {"email": expected["national"]["email"]}
    assert email["results"] == [
        {**row, "channels": {"email": row["channels"]["email"]}} for row in with_email
    ]
    assert api.get("/api/waves/pre/results", channel="letter").json()["results"] == []


def test_bad_requests_get_a_json_error(project: Engine, api: Api) -> None:
    cases = [
        ({"limit": "0"}, "limit: expected an integer 1..1000, got '0'"),
        ({"limit": "1001"}, "limit: expected an integer 1..1000, got '1001'"),
        ({"offset": "-1"}, "offset: expected an integer"),
        ({"offset": "ten"}, "offset: expected an integer"),
        ({"channel": "fax"}, "channel: expected one of phone, email, letter, web, got 'fax'"),
        ({"regoin": "Grand Est"}, "unknown query parameter 'regoin'"),
    ]
    for params, message in cases:
        response = api.get("/api/waves/pre/results", **params)
        assert response.status_code == 400, params
        body = response.json()
        assert body["error"] == "invalid_parameter" and message in body["detail"]
    response = api.get("/api/structures/21770001800011/results", detail="yes")
    assert response.status_code == 400
    assert response.json()["detail"] == "detail: expected true or false, got 'yes'"

    missing = api.get("/api/waves/nope/results")
    assert missing.status_code == 404
    assert missing.json() == {
        "error": "unknown_wave",
        "detail": "no wave named 'nope': create it with `prober wave create`",
    }
    unscored = api.get("/api/waves/later/results")
    assert unscored.status_code == 409
    assert unscored.json()["error"] == "not_scored"
    assert "run `prober score later` first" in unscored.json()["detail"]
    nothing = api.get("/api/waves")
    assert nothing.status_code == 404 and nothing.json()["error"] == "not_found"
    posted = api.request("POST", "/api/waves/pre/results")
    assert posted.status_code == 405 and posted.json()["error"] == "method_not_allowed"


def test_a_structure_s_results_in_every_scored_wave(project: Engine, api: Api) -> None:
    settings = load_settings()
    grid = load_grid(settings, None)
    pre, post = expected_results(project, "pre"), expected_results(project, "post")
    # In both waves (Moselle), then only in the first one.
    for official_id, waves in [("21570463000018", (post, pre)), ("21770001800011", (pre,))]:
        found = api.get(f"/api/structures/{official_id}/results").json()
        rows = [
            next(r for r in wave["results"] if r["structure"]["official_id"] == official_id)
            for wave in waves
        ]
        assert found["structure"] == rows[0]["structure"]
        assert found["waves"] == [
            {**{k: v for k, v in wave.items() if k not in ("national", "results")},
             "channels": row["channels"]}
            for wave, row in zip(waves, rows, strict=True)
        ]  # fmt: skip
        assert [w["wave"]["name"] for w in found["waves"]] == [w["wave"]["name"] for w in waves]

    one = api.get("/api/structures/21570463000018/results", wave="pre").json()
    assert [w["wave"]["name"] for w in one["waves"]] == ["pre"]

    detailed = api.get("/api/structures/21570463000018/results", wave="post", detail="true")
    channels = detailed.json()["waves"][0]["channels"]
    with Session(project) as session:
        results = load_results(session, "post", grid, settings.scoring)
        sid = detailed.json()["structure"]["id"]
        judged = structure_detail(session, results, grid, sid)
    assert {score.channel for score in judged} == set(channels) == {"phone", "email"}
    for score in judged:
        contacts = json.loads(json.dumps([c.to_json() for c in score.contact_scores]))
        assert channels[score.channel]["contacts_detail"] == contacts
        assert channels[score.channel]["score"] == score.score
    evidence = [
        event
        for contact in channels["phone"]["contacts_detail"]
        for verdict in contact["criteria"]
        for event in verdict["evidence"]
    ]
    assert evidence and all(uuid.UUID(event["event_id"]) for event in evidence)

    unknown = api.get("/api/structures/00000000000000/results")
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_structure"
    not_in_wave = api.get("/api/structures/21770001800011/results", wave="post")
    assert not_in_wave.status_code == 404 and not_in_wave.json()["error"] == "no_results"
    no_wave = api.get("/api/structures/21770001800011/results", wave="nope")
    assert no_wave.status_code == 404 and no_wave.json()["error"] == "unknown_wave"
    unscored = api.get("/api/structures/21770001800011/results", wave="later")
    assert unscored.status_code == 409 and unscored.json()["error"] == "not_scored"


def test_results_follow_a_new_scoring_and_the_wave_s_status(
    prober_cli: Run, project: Engine, api: Api
) -> None:
    first = api.get("/api/waves/post/results").json()
    with session_scope(project) as session:
        set_wave_status(session, "post", WaveStatus.RUNNING)
    assert api.get("/api/waves/post/results").json()["wave"]["status"] == "running"
    assert prober_cli("score", "post").exit_code == 0
    again = api.get("/api/waves/post/results").json()
    assert again["computed_at"] > first["computed_at"]
    assert again == {**expected_results(project, "post"), "paging": again["paging"]}


def test_the_openapi_document(project: Engine, api: Api) -> None:
    document = api.get("/api/openapi.json").json()
    validate(document)
    assert document == json.loads(json.dumps(openapi_document()))
    assert set(document["paths"]) == {
        "/api/waves/{wave}/results",
        "/api/structures/{official_id}/results",
        "/api/openapi.json",
        "/healthz",
    }
    assert api.get("/healthz").json() == {"status": "ok"}


def test_no_api_without_a_criteria_grid(prober_cli: Run) -> None:
    assert prober_cli("init").exit_code == 0
    Path("criteria.toml").unlink()
    settings = load_settings()
    database = Database(make_engine(settings.effective_database_url))
    try:
        assert project_api(settings, database, TokenCheck(database)) == []
    finally:
        database.close()
        database.engine.dispose()
