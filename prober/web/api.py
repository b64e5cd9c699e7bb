"""The results API: a wave's published results, and one structure's, as JSON over HTTP.

Read-only, served by the workspace listener under ``/api`` (see docs/api.md), to requests
bearing a token with the ``results:read`` scope (prober/web/access.py), and to people signed in
on the workspace (prober/web/auth.py): staff see every result, a structure account only its own
structure's (403 ``forbidden`` elsewhere). Handlers run their database
work through :class:`Database` so the event loop never waits on it. A wave's results (all its
structures, for the comparisons) are loaded once per scoring and kept, so paging through a
35,000-structure wave reads the scores once. The OpenAPI document is built from the pydantic
models below, which describe exactly what ``prober.results.published`` emits.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Mapping
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from config.criteria import CriteriaGrid
from config.errors import ConfigError
from config.settings import ScoringSettings, Settings
from prober.errors import ProberError
from prober.project.database import Database
from prober.results.grid import load_grid
from prober.results.published import (
    NotScoredError,
    WaveResults,
    load_results,
    structure_detail,
    structure_facts_json,
)
from prober.results.scoring.compare import peer_group
from prober.web.access import AccessDenied, TokenCheck
from prober.web.auth import SESSION_COOKIE, Auth
from storage import scores as stored
from storage.errors import NotFoundError
from storage.models import Role, WaveStatus
from storage.participants import participant_sites
from storage.publication import published_waves
from storage.structures import get_structure
from storage.waves import get_wave, list_waves

logger = logging.getLogger(__name__)

API_PREFIX = "/api"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
CHANNELS = ("phone", "email", "letter", "web")
# Waves whose loaded results are kept (each holds every structure's scores of the wave).
CACHED_WAVES = 4

ErrorCode = Literal[
    "invalid_parameter",
    "unknown_wave",
    "unknown_structure",
    "not_scored",
    "no_results",
    "not_found",
    "method_not_allowed",
    "missing_token",
    "invalid_token",
    "insufficient_scope",
    "forbidden",
]
READ_SCOPE = "results:read"


class ApiError(ProberError):
    """An API request that cannot be answered: its status, a stable code and a message."""

    def __init__(self, status: int, code: ErrorCode, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


# -- Response models: the OpenAPI document's schemas (never used to build responses) -----------

Channel = Literal["phone", "email", "letter", "web"]
Measure = Literal["score", "accessibility", "responsiveness", "quality"]
Verdict = Literal["passed", "failed", "not_applicable", "pending", "to_review"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GroupStats(_Model):
    """Distribution of one measure (0..100) over a group of structures on one channel."""

    structures: int = Field(description="Structures of the group with a value.")
    mean: float | None
    median: float | None
    p25: float | None
    p75: float | None


StatsByMeasure = dict[Measure, GroupStats]


class Standing(_Model):
    """Where the structure stands among its peers on this channel."""

    peer_group: str
    peers: int = Field(description="Scored structures of the group, this one included.")
    percentile: float | None = Field(
        description="Share of peers below (ties half), 0..100; null under scoring.min_peers."
    )
    rank: int | None = Field(description="1 is the group's best score; ties share a rank.")


class CriterionTally(_Model):
    """How one criterion went over the structure's contacts on this channel."""

    passed: int
    failed: int
    not_applicable: int
    pending: int
    to_review: int
    rate: float | None = Field(description="passed / (passed + failed), 0..1.")


class EventEvidence(_Model):
    """A stored event backing a verdict."""

    event_id: str = Field(json_schema_extra={"format": "uuid"})
    kind: str = Field(description="Event kind, with ':phase' for phased events.")
    source_at: datetime


class CriterionVerdict(_Model):
    """One criterion judged on one contact, with its evidence."""

    criterion: str
    verdict: Verdict
    value: bool | float | None
    note: str
    evidence: list[EventEvidence]
    replies: list[int] = Field(description="Ids of the stored replies that decided it.")


class ContactVerdicts(_Model):
    """One contact (an attempt that reached the structure) and its verdicts."""

    probe_id: str = Field(json_schema_extra={"format": "uuid"})
    attempt_id: int
    attempt: int = Field(description="The attempt's number within its probe, from 1.")
    scenario: str
    slot_kind: str
    started_at: datetime
    outcome: str | None
    figures: dict[str, Any]
    recordings: list[int]
    criteria: list[CriterionVerdict]


class ChannelResults(_Model):
    """A structure's results on one channel of one wave, with its comparisons."""

    channel: Channel
    score: float | None = Field(description="0..100; null when no criterion was decided.")
    accessibility: float | None
    responsiveness: float | None
    quality: float | None
    contacts: int = Field(description="Contacts scored (attempts that reached the structure).")
    probes: int
    excluded: int = Field(description="Attempts that never reached the structure.")
    pending: int = Field(description="Contacts with a criterion still awaiting a reply.")
    criteria: dict[str, CriterionTally]
    figures: dict[str, float | None]
    standing: Standing | None
    peers: StatsByMeasure
    region: StatsByMeasure
    national: StatsByMeasure


class ChannelResultsDetail(ChannelResults):
    """Channel results, with each contact's verdicts when ``detail=true``."""

    contacts_detail: list[ContactVerdicts] = Field(
        default_factory=list, description="Present only with detail=true."
    )


class StructureFacts(_Model):
    """The structure, as the comparisons grouped it."""

    id: int = Field(description="prober's internal id (not stable across databases).")
    official_id: str
    name: str
    kind: str
    departement: str
    region: str
    population: int | None
    peer_group: str


class StructureResults(_Model):
    """One structure's results in a wave, by channel."""

    structure: StructureFacts
    channels: dict[Channel, ChannelResults]


class WaveFacts(_Model):
    name: str
    starts_on: date
    ends_on: date
    status: WaveStatus
    channels: list[Channel]


class GridFacts(_Model):
    name: str
    digest: str = Field(description="Fingerprint of the grid's content the scores used.")


class ResultsHeader(_Model):
    """The wave, the grid and when the scores were computed."""

    format_version: Literal[1]
    wave: WaveFacts
    grid: GridFacts
    computed_at: datetime
    as_of: datetime = Field(description="Replies still awaited were judged at this instant.")


class Paging(_Model):
    total: int = Field(description="Structures matching the filters.")
    offset: int
    limit: int


class WaveResultsPage(ResultsHeader):
    """A page of a wave's results."""

    national: dict[Channel, StatsByMeasure]
    results: list[StructureResults]
    paging: Paging


class StructureWave(ResultsHeader):
    """One structure's results in one wave."""

    channels: dict[Channel, ChannelResultsDetail]


class StructureHistory(_Model):
    """One structure's results in every scored wave, newest wave first."""

    structure: StructureFacts
    waves: list[StructureWave]


class Error(_Model):
    error: ErrorCode
    detail: str


class Health(_Model):
    status: Literal["ok"]


# -- The OpenAPI document -----------------------------------------------------------------------


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    meaning = {
        400: "A query parameter is unknown or invalid (error: invalid_parameter).",
        404: "No such wave (unknown_wave), structure (unknown_structure), or no results of the"
        " structure in the wave asked for (no_results).",
        409: "The wave has no scores yet (not_scored): run `prober score WAVE`.",
        401: "No token nor session (missing_token), or an unknown or revoked token"
        " (invalid_token); the WWW-Authenticate header says which.",
        403: f"The token lacks the `{READ_SCOPE}` scope (insufficient_scope), or the signed-in"
        " account may not see these results (forbidden: a structure account sees only its own).",
    }
    return {str(status): _json(_ref("Error"), meaning[status]) for status in statuses}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _path(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": description,
    }


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 description of the results API (and the web app's health check)."""
    _, definitions = models_json_schema(
        [(model, "serialization") for model in (WaveResultsPage, StructureHistory, Error, Health)],
        ref_template="#/components/schemas/{model}",
    )
    channel = {"type": "string", "enum": list(CHANNELS)}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "prober results API",
            "version": "1",
            "description": "Published results of prober's probe waves: scores per structure"
            " and channel, with peer, regional and national comparisons.",
        },
        "paths": {
            f"{API_PREFIX}/waves/{{wave}}/results": {
                "get": {
                    "operationId": "waveResults",
                    "summary": "A wave's results, filtered and paged",
                    "parameters": [
                        _path("wave", "The wave's name."),
                        _query(
                            "channel",
                            channel,
                            "Only structures scored on this channel, and only this channel.",
                        ),
                        _query("peer_group", {"type": "string"}, "e.g. `mairie · 2k-10k`."),
                        _query("kind", {"type": "string"}, "e.g. `mairie`."),
                        _query("region", {"type": "string"}, "e.g. `Grand Est`."),
                        _query("departement", {"type": "string"}, "e.g. `57`, `2A`, `974`."),
                        _query(
                            "limit",
                            {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": MAX_LIMIT,
                                "default": DEFAULT_LIMIT,
                            },
                            "Structures per page.",
                        ),
                        _query(
                            "offset",
                            {"type": "integer", "minimum": 0, "default": 0},
                            "Structures skipped (ordered by internal id).",
                        ),
                    ],
                    "responses": {
                        "200": _json(_ref("WaveResultsPage"), "A page of the wave's results."),
                        **_errors(400, 401, 403, 404, 409),
                    },
                    "security": [{"bearer": [READ_SCOPE]}, {"session": []}],
                }
            },
            f"{API_PREFIX}/structures/{{official_id}}/results": {
                "get": {
                    "operationId": "structureResults",
                    "summary": "A structure's results in every scored wave",
                    "parameters": [
                        _path("official_id", "The structure's official id (SIRET, FINESS...)."),
                        _query("wave", {"type": "string"}, "Only this wave."),
                        _query(
                            "detail",
                            {"type": "boolean", "default": False},
                            "Add each contact's verdicts with their evidence.",
                        ),
                    ],
                    "responses": {
                        "200": _json(_ref("StructureHistory"), "The structure's results."),
                        **_errors(400, 401, 403, 404, 409),
                    },
                    "security": [{"bearer": [READ_SCOPE]}, {"session": []}],
                }
            },
            f"{API_PREFIX}/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1 document.")},
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "health",
                    "summary": "The listener is up",
                    "responses": {"200": _json(_ref("Health"), "Up.")},
                }
            },
        },
        "components": {
            "schemas": definitions["$defs"],
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `prober tokens add NAME --scope results:read`.",
                },
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": SESSION_COOKIE,
                    "description": "The session of a person signed in on the workspace"
                    " (`/connexion`); a structure account sees only its own structure.",
                },
            },
        },
    }


# -- Loading results ------------------------------------------------------------------------


class _ResultsCache:
    """Each wave's loaded results, kept until the wave is scored again.

    Only the stored scores' computation time is read to tell; the wave row is read afresh on
    every request (its status changes without a new scoring).
    """

    def __init__(self, grid: CriteriaGrid, settings: ScoringSettings) -> None:
        self.grid = grid
        self.settings = settings
        self._lock = threading.Lock()
        self._kept: OrderedDict[str, tuple[tuple[int, datetime], WaveResults]] = OrderedDict()

    def results(self, session: Session, wave_name: str) -> WaveResults:
        """The results of ``wave_name``; NotFoundError or NotScoredError otherwise."""
        wave = get_wave(session, wave_name)
        assert wave.id is not None  # noqa: S101 - a stored wave
        stamps = [
            at for grid, at in stored.scored_grids(session, wave.id) if grid == self.grid.name
        ]
        key = (wave.id, max(stamps)) if stamps else None
        with self._lock:
            kept = self._kept.get(wave_name)
            if kept is not None and kept[0] == key:
                self._kept.move_to_end(wave_name)
                return dataclasses.replace(kept[1], wave=wave)
        loaded = load_results(session, wave_name, self.grid, self.settings)
        if key is not None:
            with self._lock:
                self._kept[wave_name] = (key, loaded)
                self._kept.move_to_end(wave_name)
                while len(self._kept) > CACHED_WAVES:
                    self._kept.popitem(last=False)
        return loaded


# -- Query parameters -----------------------------------------------------------------------


def _parameters(request: Request, allowed: tuple[str, ...]) -> dict[str, str]:
    unknown = sorted(set(request.query_params) - set(allowed))
    if unknown:
        raise ApiError(
            400,
            "invalid_parameter",
            f"unknown query parameter {unknown[0]!r}: expected one of {', '.join(allowed)}",
        )
    for name in request.query_params:
        if len(request.query_params.getlist(name)) > 1:
            raise ApiError(400, "invalid_parameter", f"{name}: give it once")
    return dict(request.query_params)


def _integer(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = params.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ApiError(
            400, "invalid_parameter", f"{name}: expected an integer {low}..{high}, got {text!r}"
        )
    return value


def _boolean(params: Mapping[str, str], name: str) -> bool:
    text = params.get(name, "false")
    if text not in ("true", "false"):
        raise ApiError(400, "invalid_parameter", f"{name}: expected true or false, got {text!r}")
    return text == "true"


def _channel(params: Mapping[str, str]) -> str | None:
    channel = params.get("channel")
    if channel is not None and channel not in CHANNELS:
        raise ApiError(
            400,
            "invalid_parameter",
            f"channel: expected one of {', '.join(CHANNELS)}, got {channel!r}",
        )
    return channel


# -- Building responses ---------------------------------------------------------------------


def wave_page(results: WaveResults, params: Mapping[str, str]) -> dict[str, Any]:
    """The page of ``results`` that the (already checked) query parameters ask for."""
    channel = params.get("channel")
    limit = _integer(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _integer(params, "offset", 0, 0, 2**31)
    scored_on: dict[int, set[str]] = {}
    for score in results.scores:
        scored_on.setdefault(score.structure_id, set()).add(score.channel)
    wanted = {
        "peer_group": params.get("peer_group"),
        "kind": params.get("kind"),
        "region": params.get("region"),
        "departement": params.get("departement"),
    }

    def matches(structure_id: int) -> bool:
        info = results.structures[structure_id]
        found = {
            "peer_group": results.comparisons.group_of[structure_id],
            "kind": info.kind,
            "region": info.region,
            "departement": info.departement,
        }
        if channel is not None and channel not in scored_on.get(structure_id, set()):
            return False
        return all(value is None or found[key] == value for key, value in wanted.items())

    ids = [structure_id for structure_id in sorted(results.structures) if matches(structure_id)]
    shown = ids[offset : offset + limit]
    page = results.to_json(shown)
    if channel is not None:
        page["national"] = {k: v for k, v in page["national"].items() if k == channel}
        for row in page["results"]:
            row["channels"] = {k: v for k, v in row["channels"].items() if k == channel}
    page["paging"] = {"total": len(ids), "offset": offset, "limit": limit}
    return page


def _error_response(
    status: int, code: ErrorCode, detail: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def _waves_with(
    lookup: Callable[[Session, str], WaveResults],
    session: Session,
    structure_id: int,
    official_id: str,
    names: list[str],
    only_wave: str | None,
) -> Iterator[WaveResults]:
    """The results of the waves named that hold the structure: with ``only_wave``, that
    wave or an error; otherwise every scored wave that probed it."""
    for name in names:
        try:
            results = lookup(session, name)
        except ApiError as error:
            if only_wave is not None or error.code != "not_scored":
                raise
            continue
        if structure_id in results.structures:
            yield results
        elif only_wave is not None:
            raise ApiError(
                404,
                "no_results",
                f"structure {official_id!r} has no results in wave {name!r}:"
                " it was not probed in it",
            )


def _check_allowed(allowed: frozenset[str] | None, official_id: str) -> None:
    if allowed is not None and official_id not in allowed:
        raise ApiError(
            403,
            "forbidden",
            f"a structure account sees only its own results ({', '.join(sorted(allowed))})",
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Reader:
    """Who reads: a token's or an account's name, and the only structure it may see (None: all)."""

    name: str
    only_structures: frozenset[str] | None = None
    """A structure account: the official ids of its sites; None: every structure."""


async def _reader(request: Request, access: TokenCheck, auth: Auth | None, scope: str) -> Reader:
    """A bearer token when the request carries one; else the signed-in user; else 401."""
    if auth is not None and "authorization" not in request.headers:
        user = await auth.user_of(request)
        if user is not None:
            if user.role is Role.STRUCTURE:
                account_id = user.account_id

                def sites(session: Session) -> frozenset[str]:
                    ids = participant_sites(session, account_id)
                    infos = stored.structures_by_ids(session, ids).values()
                    return frozenset(info.official_id for info in infos)

                return Reader(user.login, await auth.database.run(sites))
            return Reader(user.login)
    return Reader(await access.require(request, scope))


def _readable(
    session: Session, names: list[str], only_wave: str | None, *, structure_account: bool
) -> list[str]:
    """The waves a reader may see: all for staff, the published ones for a structure."""
    if not structure_account:
        return names
    published = published_waves(session)
    if only_wave is not None and only_wave not in published:
        raise ApiError(404, "unknown_wave", f"no published wave {only_wave!r}")
    return [name for name in names if name in published]


def results_api(
    database: Database,
    settings: ScoringSettings,
    grid: CriteriaGrid,
    access: TokenCheck,
    auth: Auth | None = None,
) -> Mount:
    """The results API, mounted at ``/api``: scores stored under ``grid``, read via ``database``,
    to requests whose token ``access`` finds with the ``results:read`` scope or, with ``auth``,
    to signed-in people (a structure account: its own structure only)."""
    cache = _ResultsCache(grid, settings)
    document = openapi_document()

    def api(
        work: Callable[[Request], Awaitable[dict[str, Any]]], *, scope: str | None = READ_SCOPE
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                if scope is not None:
                    request.state.reader = await _reader(request, access, auth, scope)
                return JSONResponse(await work(request))
            except AccessDenied as denied:
                headers = {"WWW-Authenticate": denied.challenge}
                return _error_response(denied.status, denied.code, denied.detail, headers)
            except ApiError as error:
                return _error_response(error.status, error.code, error.detail)

        return endpoint

    async def wave_results(request: Request) -> dict[str, Any]:
        if request.state.reader.only_structures is not None:
            raise ApiError(
                403,
                "forbidden",
                "a structure account sees only its own results:"
                " /api/structures/<its official id>/results",
            )
        params = _parameters(
            request, ("channel", "peer_group", "kind", "region", "departement", "limit", "offset")
        )
        _channel(params)
        _integer(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        _integer(params, "offset", 0, 0, 2**31)
        wave_name = request.path_params["wave"]

        def read(session: Session) -> dict[str, Any]:
            return wave_page(_wave_results(session, wave_name), params)

        return await database.run(read)

    def _wave_results(session: Session, wave_name: str) -> WaveResults:
        try:
            return cache.results(session, wave_name)
        except NotFoundError as error:
            raise ApiError(404, "unknown_wave", str(error)) from None
        except NotScoredError as error:
            raise ApiError(409, "not_scored", str(error)) from None

    async def structure_results(request: Request) -> dict[str, Any]:
        params = _parameters(request, ("wave", "detail"))
        detail = _boolean(params, "detail")
        official_id = request.path_params["official_id"]
        only_wave = params.get("wave")
        allowed = request.state.reader.only_structures
        _check_allowed(allowed, official_id)

        def read(session: Session) -> dict[str, Any]:
            try:
                structure = stored.structure_info(get_structure(session, official_id))
            except NotFoundError as error:
                raise ApiError(404, "unknown_structure", str(error)) from None
            facts = structure_facts_json(structure, peer_group(structure, settings))
            names = [only_wave] if only_wave is not None else [w.name for w in list_waves(session)]
            names = _readable(session, names, only_wave, structure_account=allowed is not None)
            waves = [
                _structure_wave(session, results, structure.id, detail=detail)
                for results in _waves_with(
                    _wave_results, session, structure.id, official_id, names, only_wave
                )
            ]
            return {"structure": facts, "waves": waves}

        return await database.run(read)

    def _structure_wave(
        session: Session, results: WaveResults, structure_id: int, *, detail: bool
    ) -> dict[str, Any]:
        channels = results.structure_json(structure_id)["channels"]
        if detail:
            for scored in structure_detail(session, results, grid, structure_id):
                if scored.channel in channels:
                    channels[scored.channel]["contacts_detail"] = [
                        contact.to_json() for contact in scored.contact_scores
                    ]
        return {**results.header_json(), "channels": channels}

    async def openapi(request: Request) -> dict[str, Any]:
        return document

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)  # noqa: S101 - registered for it only
        if error.status_code == 405:
            return _error_response(405, "method_not_allowed", f"{request.method} not allowed")
        return _error_response(error.status_code, "not_found", f"no API at {request.url.path}")

    return Mount(
        API_PREFIX,
        app=Starlette(
            routes=[
                Route("/waves/{wave}/results", api(wave_results), methods=["GET"]),
                Route("/structures/{official_id}/results", api(structure_results), methods=["GET"]),
                Route("/openapi.json", api(openapi, scope=None), methods=["GET"]),
            ],
            exception_handlers={HTTPException: http_error},
        ),
    )


def project_api(
    settings: Settings, database: Database, access: TokenCheck, auth: Auth | None = None
) -> list[Mount]:
    """The results API under the project's criteria grid; none (logged) if the grid is unusable."""

    try:
        grid = load_grid(settings, None)
    except (ProberError, ConfigError) as error:
        logger.warning("results API off: %s", error)
        return []
    return [results_api(database, settings.scoring, grid, access, auth)]
