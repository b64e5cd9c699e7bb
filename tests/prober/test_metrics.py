"""/metrics on the workspace listener, scraped after a small wave ran against the sandbox."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine
from sqlmodel import Session

from prober.web.access import new_token, token_digest
from sandbox import parse_world
from storage.models import ProbeState
from storage.tokens import add_token
from tests.prober.test_costs import NUMBERS, WORLD, _attempts, _daemon, _seed, _settings, _states
from tests.support.phone_scene import StartSandbox, wait_until


def _token(engine: Engine, name: str, *scopes: str) -> str:
    token = new_token()
    with Session(engine) as session:
        add_token(session, name=name, sha256=token_digest(token), scopes=scopes)
        session.commit()
    return token


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_after_a_small_wave(
    phone_sandbox: StartSandbox, engine: Engine, tmp_path: Path
) -> None:
    wave = _seed(engine, NUMBERS)
    metrics_token = _token(engine, "prometheus", "metrics:read")
    results_token = _token(engine, "dashboard", "results:read")
    with phone_sandbox(parse_world(WORLD), time_scale=0.05) as sandbox:
        settings = _settings(sandbox.base_url, tmp_path)
        url = f"http://127.0.0.1:{settings.workspace.port}/metrics"
        async with _daemon(engine, settings), httpx.AsyncClient() as client:
            await wait_until(
                lambda: _states(engine) <= {ProbeState.DONE, ProbeState.FAILED},
                timeout_s=120,
                what="every call ended",
            )
            await wait_until(
                lambda: all(a.price is not None for a in _attempts(engine) if a.external_id),
                timeout_s=60,
                what="every call's price stored",
            )
            anonymous = await client.get(url)
            wrong_scope = await client.get(
                url, headers={"Authorization": f"Bearer {results_token}"}
            )
            scraped = await client.get(url, headers={"Authorization": f"Bearer {metrics_token}"})
        charged = sandbox.store.total_price()

    assert anonymous.status_code == 401
    assert wrong_scope.status_code == 403
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    samples = _samples(scraped.text)
    assert samples["prober_probes", (("channel", "phone"), ("state", "done"))] == len(NUMBERS)
    assert samples["prober_dispatch_lag_seconds_count", (("channel", "phone"),)] == len(NUMBERS)
    # Every call reports at least its completion to the status webhook.
    assert samples["prober_twilio_callbacks_total", (("endpoint", "status"),)] >= len(NUMBERS)
    assert Decimal(str(samples["prober_wave_spending", (("wave", wave),)])) == charged
    assert samples["prober_outbox_depth", ()] >= 0
    assert ("prober_reply_detection_lag_seconds_count", ()) in samples
