"""Pod logs: tests write a container's lines, ``GET .../pods/NAME/log`` serves them as the API server does."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import pytest

from sagemaker_operator.kube.emulator import KubeEmulator
from tests.kube.conftest import Api, eventually

PODS_URL = "/api/v1/namespaces/ns1/pods"
T0 = datetime.datetime(2024, 5, 1, 12, 0, 0, tzinfo=datetime.UTC)


def at(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


def pod(name: str, containers: tuple[str, ...] = ("main",), init: tuple[str, ...] = ()) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": c, "image": "busybox"} for c in containers]}
    if init:
        spec["initContainers"] = [{"name": c, "image": "busybox"} for c in init]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


async def create_pod(api: Api, name: str, **shape: Any) -> None:
    status, body = await api.post(PODS_URL, pod(name, **shape))
    assert status == 201, body


async def log(api: Api, name: str, **params: str) -> tuple[int, Any]:
    return await api.get(f"{PODS_URL}/{name}/log", **params)


async def test_lines_timestamps_since_tail_and_limit(api: Api, kube: KubeEmulator) -> None:
    await create_pod(api, "p")
    lines = [(at(0.25), "first"), (at(1.5), "second"), (at(1.75), ""), (at(3.000000123), "fourth")]
    kube.append_pod_log("ns1", "p", "main", lines)

    assert await log(api, "p") == (200, "first\nsecond\n\nfourth\n")
    status, stamped = await log(api, "p", timestamps="true")
    assert status == 200
    assert stamped.splitlines() == [
        "2024-05-01T12:00:00.250000000Z first",
        "2024-05-01T12:00:01.500000000Z second",
        "2024-05-01T12:00:01.750000000Z ",  # an empty line keeps its timestamp and separator
        "2024-05-01T12:00:03.000000000Z fourth",  # datetimes have microseconds: the nanoseconds are 0
    ]
    # sinceTime reaches the kubelet with whole seconds: 12:00:01.9 includes both lines of 12:00:01.
    assert (await log(api, "p", sinceTime="2024-05-01T12:00:01.9Z"))[1] == "second\n\nfourth\n"
    assert (await log(api, "p", sinceTime="2024-05-01T14:00:02+02:00"))[1] == "fourth\n"
    assert (await log(api, "p", tailLines="2"))[1] == "\nfourth\n"
    assert (await log(api, "p", tailLines="0"))[1] == ""
    # The kubelet takes the tail first, then applies since: the last 3 lines, of which 2 are late enough.
    assert (await log(api, "p", tailLines="3", sinceTime="2024-05-01T12:00:01.8Z"))[1] == "second\n\nfourth\n"
    assert (await log(api, "p", tailLines="3", sinceTime="2024-05-01T12:00:02Z"))[1] == "fourth\n"
    assert (await log(api, "p", limitBytes="9"))[1] == "first\nsec"  # cut mid-line, as the API server does


async def test_since_seconds_counts_back_from_now(api: Api, kube: KubeEmulator) -> None:
    await create_pod(api, "p")
    now = datetime.datetime.now(datetime.UTC)
    kube.append_pod_log("ns1", "p", "main", [(now - datetime.timedelta(hours=1), "an hour ago"), "just now"])
    assert (await log(api, "p", sinceSeconds="60"))[1] == "just now\n"
    assert (await log(api, "p", sinceSeconds="7200"))[1] == "an hour ago\njust now\n"


async def test_which_container(api: Api, kube: KubeEmulator) -> None:
    await create_pod(api, "one")
    await create_pod(api, "many", containers=("train", "upload"), init=("fetch",))
    kube.append_pod_log("ns1", "one", "main", [(at(0), "only")])
    kube.append_pod_log("ns1", "many", "fetch", [(at(0), "fetched")])

    assert await log(api, "one") == (200, "only\n")  # a pod with one container needs no name
    assert await log(api, "many", container="fetch") == (200, "fetched\n")  # init containers have logs too

    status, error = await log(api, "many")
    assert (status, error["reason"]) == (400, "BadRequest")
    assert error["message"] == (
        "a container name must be specified for pod many, choose one of: [train upload] "
        "or one of the init containers: [fetch]"
    )
    status, error = await log(api, "many", container="nope")
    assert (status, error["message"]) == (400, "container nope is not valid for pod many")


async def test_a_container_that_has_not_started_and_a_missing_pod(api: Api, kube: KubeEmulator) -> None:
    await create_pod(api, "new", containers=("train",), init=("fetch",))
    status, error = await log(api, "new", container="train")
    assert (status, error["reason"]) == (400, "BadRequest")
    assert error["message"] == 'container "train" in pod "new" is waiting to start: ContainerCreating'

    waiting = {"name": "train", "state": {"waiting": {"reason": "PodInitializing"}}}
    await api.patch(f"{PODS_URL}/new/status", {"status": {"initContainerStatuses": [waiting]}})
    status, error = await log(api, "new", container="train")
    assert error["message"] == 'container "train" in pod "new" is waiting to start: PodInitializing'

    running = {"name": "train", "state": {"running": {"startedAt": "2024-05-01T12:00:00Z"}}}
    await api.patch(f"{PODS_URL}/new/status", {"status": {"initContainerStatuses": [running]}})
    assert await log(api, "new", container="train") == (200, "")  # started, nothing printed yet

    status, error = await log(api, "gone")
    assert (status, error["reason"], error["message"]) == (404, "NotFound", 'pods "gone" not found')
    assert error["details"] == {"name": "gone", "group": "", "kind": "pods"}


async def test_bad_options_are_refused_as_the_api_server_refuses_them(api: Api, kube: KubeEmulator) -> None:
    await create_pod(api, "p")
    kube.append_pod_log("ns1", "p", "main", ["x"])

    status, error = await log(api, "p", sinceSeconds="10", sinceTime="2024-05-01T12:00:00Z")
    assert (status, error["reason"]) == (422, "Invalid")
    assert "at most one of `sinceTime` or `sinceSeconds` may be specified" in error["message"]
    status, error = await log(api, "p", tailLines="-1")
    assert (status, error["message"]) == (
        422,
        'PodLogOptions "p" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0',
    )
    for params in ({"timestamps": "yes"}, {"tailLines": "ten"}, {"sinceTime": "yesterday"}):
        status, error = await log(api, "p", **params)
        assert (status, error["reason"]) == (400, "BadRequest"), params


def test_writing_needs_the_pod_and_the_container(kube: KubeEmulator) -> None:
    with pytest.raises(LookupError, match='pods "nope" not found'):
        kube.append_pod_log("ns1", "nope", "main", ["x"])
    kube.create_object({**pod("p"), "metadata": {"name": "p", "namespace": "ns1"}})
    with pytest.raises(LookupError, match="container sidecar is not valid for pod p"):
        kube.append_pod_log("ns1", "p", "sidecar", ["x"])
    with pytest.raises(ValueError, match="no newline"):
        kube.append_pod_log("ns1", "p", "main", ["two\nlines"])


async def test_deleting_the_pod_deletes_its_logs(api: Api, kube: KubeEmulator) -> None:
    await create_pod(api, "p")
    kube.append_pod_log("ns1", "p", "main", [(at(0), "old")])
    assert (await api.delete(f"{PODS_URL}/p"))[0] == 200
    assert (await log(api, "p"))[0] == 404

    await create_pod(api, "p")  # the same name again: a new pod, with no log yet
    status, error = await log(api, "p")
    assert status == 400 and "waiting to start" in error["message"]


class Follower:
    """``follow=true`` read as a client does: the response stays open, lines arrive as written."""

    def __init__(self, kube: KubeEmulator, name: str, **params: str) -> None:
        self.request = kube.request("GET", f"{PODS_URL}/{name}/log", params={"follow": "true", **params})

    async def __aenter__(self) -> Follower:
        self.response = await self.request.__aenter__()
        assert self.response.status == 200
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.request.__aexit__(*exc_info)

    async def lines(self, count: int) -> list[str]:
        async with asyncio.timeout(5):
            return [(await self.response.content.readline()).decode() for _ in range(count)]

    async def ended(self) -> bool:
        async with asyncio.timeout(5):
            return await self.response.content.read() == b""


async def test_follow_streams_appended_lines_until_the_pod_is_deleted(api: Api, kube: KubeEmulator) -> None:
    await create_pod(api, "p")
    kube.append_pod_log("ns1", "p", "main", [(at(0), "before"), (at(1), "also before")])

    async with Follower(kube, "p", tailLines="1", timestamps="true") as follower:
        assert await follower.lines(1) == ["2024-05-01T12:00:01.000000000Z also before\n"]
        # Written from another thread, as the plugin's tests do while the emulator serves in its own.
        await asyncio.to_thread(kube.append_pod_log, "ns1", "p", "main", [(at(2), "after"), (at(3), "later")])
        assert await follower.lines(2) == [
            "2024-05-01T12:00:02.000000000Z after\n",
            "2024-05-01T12:00:03.000000000Z later\n",
        ]
        assert (await api.delete(f"{PODS_URL}/p"))[0] == 200
        assert await follower.ended()


async def test_follow_ends_when_the_container_terminates_and_applies_since(api: Api, kube: KubeEmulator) -> None:
    await create_pod(api, "p")
    kube.append_pod_log("ns1", "p", "main", [])  # started, silent so far

    async with Follower(kube, "p", sinceTime="2024-05-01T12:00:05Z") as follower:
        kube.append_pod_log("ns1", "p", "main", [(at(1), "too early"), (at(6), "in time")])
        assert await follower.lines(1) == ["in time\n"]
        done = {"name": "main", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
        await api.patch(f"{PODS_URL}/p/status", {"status": {"containerStatuses": [done]}})
        assert await follower.ended()

    # A terminated container's log is still there, and following it returns at once.
    async with Follower(kube, "p") as follower:
        assert await follower.lines(2) == ["too early\n", "in time\n"]
        assert await follower.ended()


async def test_follow_stops_when_the_client_goes_away(api: Api, kube: KubeEmulator) -> None:
    await create_pod(api, "p")
    kube.append_pod_log("ns1", "p", "main", [(at(0), "hello")])
    async with Follower(kube, "p") as follower:
        assert await follower.lines(1) == ["hello\n"]
        assert len(kube._log_followers) == 1
        follower.response.close()
    await eventually(lambda: not kube._log_followers)


async def test_a_rotated_log_serves_only_the_new_file(api: Api, kube: KubeEmulator) -> None:
    await create_pod(api, "p")
    kube.append_pod_log("ns1", "p", "main", [(at(0), "old 1"), (at(1), "old 2")])

    async with Follower(kube, "p") as follower:
        assert await follower.lines(2) == ["old 1\n", "old 2\n"]
        kube.rotate_pod_log("ns1", "p", "main")
        assert await log(api, "p") == (200, "")
        kube.append_pod_log("ns1", "p", "main", [(at(2), "new 1")])
        assert await follower.lines(1) == ["new 1\n"]  # a follower goes on with the new file
    assert await log(api, "p") == (200, "new 1\n")
    with pytest.raises(LookupError, match="has no log"):
        kube.rotate_pod_log("ns1", "p", "sidecar")
