"""The case API: roles, status codes, and who the log says acted."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from notifiers.engine import EscalationEngine
from notifiers.http_api import Principal, make_app
from tests.support.escalation import ANALYST, NewLog, engine, screened_alarm, signal

TOKENS = {"op-token": Principal("Dr A. Operator", "operator"),
          "op2-token": Principal("Dr C. Second", "operator"),
          "audit-token": Principal("Auditor B", "auditor")}
OPERATOR = {"Authorization": "Bearer op-token"}
SECOND_OPERATOR = {"Authorization": "Bearer op2-token"}
AUDITOR = {"Authorization": "Bearer audit-token"}


def with_client(eng: EscalationEngine,
                body: Callable[[TestClient], Awaitable[Any]], **kwargs: Any) -> Any:
    async def run() -> Any:
        async with TestClient(TestServer(make_app(eng, TOKENS, **kwargs),
                                         host="127.0.0.1")) as client:
            return await body(client)
    return asyncio.run(run())


def test_no_token_401_auditor_reads_but_cannot_act(new_log: NewLog) -> None:
    eng, _ = engine(new_log())
    case_id = eng.receive(signal("alarm")).case_ids[0]

    async def body(client: TestClient) -> None:
        assert (await client.get("/cases")).status == 401
        response = await client.get("/cases", headers={"Authorization": "Bearer wrong"})
        assert response.status == 401 and response.headers["WWW-Authenticate"] == "Bearer"
        assert (await client.get("/cases", headers={"Authorization": "Basic x"})).status == 401
        listed = await client.get("/cases", headers=AUDITOR)
        assert listed.status == 200
        assert [c["case_id"] for c in (await listed.json())["cases"]] == [case_id]
        shown = await client.get(f"/cases/{case_id}", headers=AUDITOR)
        document = await shown.json()
        assert document["case"]["stage"] == "screening"
        assert document["history"][0]["kind"] == "signal_received"
        for action in ("ack", "respond", "confirm", "screen-out", "withdraw", "signoff",
                       "note"):
            denied = await client.post(f"/cases/{case_id}/{action}", headers=AUDITOR,
                                       json={"note": "x"})
            assert denied.status == 403, action
        assert (await client.post(f"/cases/{case_id}/note", json={})).status == 401

    with_client(eng, body)
    assert list(eng.log.entries(kind="action")) == []


def test_operator_acts_and_the_log_names_the_token_holder(new_log: NewLog) -> None:
    eng, _ = engine(new_log())
    case_id = screened_alarm(eng)
    woken: list[bool] = []

    async def body(client: TestClient) -> None:
        response = await client.post(f"/cases/{case_id}/respond", headers=OPERATOR,
                                     json={"note": "explanation received", "by": "someone else",
                                           "details": {"kind": "explanation"}})
        assert response.status == 200
        document = await response.json()
        assert document["case"]["stage"] == "review"
        assert "action" in [e["kind"] for e in document["logged"]]
        conflict = await client.post(f"/cases/{case_id}/signoff", headers=OPERATOR)
        assert conflict.status == 409
        assert "not awaiting sign-off" in (await conflict.json())["error"]
        assert (await client.post(f"/cases/{case_id}/confirm", headers=OPERATOR)).status == 200
        # Four eyes: the confirming operator cannot release the CQC letter too.
        same = await client.post(f"/cases/{case_id}/signoff", headers=OPERATOR)
        assert same.status == 409 and "four-eyes" in (await same.json())["error"]
        assert (await client.post(f"/cases/{case_id}/signoff",
                                  headers=SECOND_OPERATOR)).status == 200
        assert (await client.post("/cases/c-nope/ack", headers=OPERATOR)).status == 404
        assert (await client.get("/cases/c-nope", headers=OPERATOR)).status == 404
        bad = await client.post(f"/cases/{case_id}/note", headers=OPERATOR, data="not json")
        assert bad.status == 400
        awaiting = await client.get("/cases?status=open", headers=OPERATOR)
        assert len((await awaiting.json())["cases"]) == 1
        active = await client.get("/cases?status=active", headers=OPERATOR)
        assert len((await active.json())["cases"]) == 1
        assert (await client.get("/cases?status=weird", headers=OPERATOR)).status == 400

    with_client(eng, body, on_change=lambda: woken.append(True))
    actions = [e.payload for e in eng.log.entries(kind="action")]
    assert [(a["action"], a["by"]) for a in actions] == [
        ("confirm", ANALYST), ("respond", "Dr A. Operator"), ("confirm", "Dr A. Operator"),
        ("signoff", "Dr C. Second")]
    assert actions[1]["details"] == {"kind": "explanation"}
    assert len(woken) == 3
    assert eng.case(case_id).signoffs[0]["by"] == "Dr C. Second"


def test_a_role_string_is_enough_for_a_token(new_log: NewLog) -> None:
    eng, _ = engine(new_log())

    async def body(client: TestClient) -> int:
        return (await client.get("/cases", headers={"Authorization": "Bearer t"})).status

    async def run() -> int:
        async with TestClient(TestServer(make_app(eng, {"t": "auditor"}),
                                         host="127.0.0.1")) as client:
            return await body(client)

    assert asyncio.run(run()) == 200
