"""The real kopf reactor runs against the emulator: finalizers, status patches, events, deletion."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf
import pytest

from sagemaker_operator.kube.emulator import KubeEmulator
from sagemaker_operator.kube.running import run_operator
from tests.kube.conftest import WIDGETS, WIDGETS_URL, Api, eventually, widget

FINALIZER = "kopf.zalando.org/KopfFinalizerMarker"


@pytest.mark.parametrize("created_before_start", [True, False], ids=["listed", "watched"])
async def test_kopf_handles_creation_and_deletion(api: Api, kube: KubeEmulator, created_before_start: bool) -> None:
    registry = kopf.OperatorRegistry()
    deleted: list[str] = []

    @kopf.on.create("example.com", "v1", "widgets", id="submit", registry=registry)
    def on_create(body: kopf.Body, **_: Any) -> dict[str, str]:
        kopf.info(body, reason="Submitted", message="widget submitted")  # an explicit Event
        return {"phase": "Submitted"}  # kopf stores it as status.submit

    @kopf.on.delete("example.com", "v1", "widgets", registry=registry)
    def on_delete(name: str, **_: Any) -> None:
        deleted.append(name)

    if created_before_start:
        await api.post(WIDGETS_URL, widget("w1", size=1))
    async with run_operator(str(kube.url), registry=registry):
        if not created_before_start:
            await api.post(WIDGETS_URL, widget("w1", size=1))

        status = await eventually(lambda: kube.objects[WIDGETS, "ns1", "w1"].get("status"))
        assert status == {"submit": {"phase": "Submitted"}}
        assert kube.objects[WIDGETS, "ns1", "w1"]["metadata"]["finalizers"] == [FINALIZER]
        [event] = await eventually(lambda: kube.events_for("w1", "ns1", kind="Widget"))
        assert (event["type"], event["reason"]) == ("Normal", "Submitted")
        assert event["message"] == "widget submitted"

        await api.delete(f"{WIDGETS_URL}/w1")
        await eventually(lambda: kube.objects[WIDGETS, "ns1", "w1"].deleted)
        assert deleted == ["w1"]
        released = kube.objects[WIDGETS, "ns1", "w1"].history[-2]
        assert released is not None  # the last version before the deletion: released by kopf
        assert released["metadata"]["deletionTimestamp"] and not released["metadata"].get("finalizers")


async def test_stopping_the_operator_leaves_the_callers_tasks_alone(kube: KubeEmulator) -> None:
    async with asyncio.timeout(4), run_operator(str(kube.url), registry=kopf.OperatorRegistry()):
        bystander = asyncio.create_task(asyncio.sleep(60))  # e.g. the simulator's clock, the demo's UI
    assert not bystander.done()  # kopf.operator() would have waited 5 s and then cancelled it
    bystander.cancel()
