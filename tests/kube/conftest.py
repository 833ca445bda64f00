"""Fixtures for the Kubernetes API emulator: a tiny CRD, a served emulator, an HTTP client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from sagemaker_operator.kube.emulator import KubeEmulator, serve_emulator

WIDGETS = "example.com/v1/widgets"
WIDGETS_URL = "/apis/example.com/v1/namespaces/ns1/widgets"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"

# Immutable spec (a transition rule), a create-time rule, and a status subresource: the shape
# of the project's job CRDs in miniature.
WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {
            "plural": "widgets",
            "singular": "widget",
            "kind": "Widget",
            "shortNames": ["wd"],
            "categories": ["toys"],
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "x-kubernetes-validations": [
                                    {"rule": "self == oldSelf", "message": "spec is immutable"},
                                    {"rule": "!has(self.size) || self.size >= 1", "message": "size must be positive"},
                                ],
                            },
                            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        },
                    }
                },
            }
        ],
    },
}


class Api:
    """A thin JSON client over the emulator's HTTP port (what kopf or kubectl would send)."""

    def __init__(self, kube: KubeEmulator) -> None:
        self.kube = kube

    async def call(
        self, method: str, path: str, body: Any = None, *, content_type: str = "application/json", **params: str
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type} if body is not None else {}
        async with self.kube.request(method, path, data=data, headers=headers, params=params) as response:
            is_json = response.content_type == "application/json"
            return response.status, await response.json() if is_json else await response.text()

    async def get(self, path: str, **params: str) -> tuple[int, Any]:
        return await self.call("GET", path, **params)

    async def post(self, path: str, body: Any) -> tuple[int, Any]:
        return await self.call("POST", path, body)

    async def put(self, path: str, body: Any) -> tuple[int, Any]:
        return await self.call("PUT", path, body)

    async def patch(self, path: str, body: Any, content_type: str = MERGE) -> tuple[int, Any]:
        return await self.call("PATCH", path, body, content_type=content_type)

    async def delete(self, path: str) -> tuple[int, Any]:
        return await self.call("DELETE", path)

    async def watch(self, path: str, *, count: int, **params: str) -> list[dict[str, Any]]:
        """Read `count` events from a watch-stream (fails the test if they do not come in time)."""
        events: list[dict[str, Any]] = []
        async with self.kube.request("GET", path, params={"watch": "true", **params}) as response:
            assert response.status == 200
            async with asyncio.timeout(5):
                while len(events) < count:
                    line = await response.content.readline()
                    assert line, f"the stream ended after {events}"
                    events.append(json.loads(line))
        return events


@pytest.fixture
async def kube() -> AsyncIterator[KubeEmulator]:
    async with serve_emulator(crds=[WIDGET_CRD]) as kube:
        yield kube


@pytest.fixture
def api(kube: KubeEmulator) -> Api:
    return Api(kube)


def widget(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec}


async def eventually(condition: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll until the condition is truthy; return its value. No fixed sleeps in the tests."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (result := condition()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"the condition did not become true within {timeout}s")
        await asyncio.sleep(0.01)
    return result
