"""The emulator answers as the Kubernetes API server does, for what kopf and kubectl rely on."""

from __future__ import annotations

import asyncio
import copy
import re

import aiohttp
import kmock

from sagemaker_operator.kube.emulator import KubeEmulator, serve_emulator
from tests.kube.conftest import JSON_PATCH, WIDGET_CRD, WIDGETS, WIDGETS_URL, Api, widget


async def test_create_assigns_server_fields_and_drops_status(api: Api) -> None:
    status, body = await api.post(WIDGETS_URL, {**widget("w1", size=2), "status": {"fake": "done"}})

    assert status == 201
    meta = body["metadata"]
    assert meta["namespace"] == "ns1"
    assert re.fullmatch(r"[0-9a-f-]{36}", meta["uid"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["creationTimestamp"])
    assert meta["generation"] == 1
    assert meta["resourceVersion"].isdigit()
    assert "status" not in body  # written through /status only
    assert await api.get(f"{WIDGETS_URL}/w1") == (200, body)


async def test_generate_name_and_missing_name(api: Api) -> None:
    status, body = await api.post(WIDGETS_URL, {"metadata": {"generateName": "w-"}, "spec": {}})
    assert status == 201
    assert re.fullmatch(r"w-[a-z0-9]{5}", body["metadata"]["name"])
    assert body["kind"] == "Widget" and body["apiVersion"] == "example.com/v1"  # filled in when omitted

    status, error = await api.post(WIDGETS_URL, {"metadata": {}, "spec": {}})
    assert (status, error["reason"]) == (422, "Invalid")
    assert "name or generateName is required" in error["message"]


async def test_duplicate_and_mismatching_creates_are_refused(api: Api) -> None:
    await api.post(WIDGETS_URL, widget("w1"))

    status, error = await api.post(WIDGETS_URL, widget("w1"))
    assert (status, error["kind"], error["reason"]) == (409, "Status", "AlreadyExists")
    assert error["message"] == 'widgets.example.com "w1" already exists'

    status, error = await api.post(WIDGETS_URL, {**widget("w2"), "kind": "Gadget"})
    assert (status, error["reason"]) == (400, "BadRequest")
    elsewhere = {**widget("w3"), "metadata": {"name": "w3", "namespace": "x"}}
    status, error = await api.post(WIDGETS_URL, elsewhere)
    assert (status, error["reason"]) == (400, "BadRequest")


async def test_list_has_kind_resource_version_and_selectors(api: Api, kube: KubeEmulator) -> None:
    for name, labels in [("a", {"app": "x", "tier": "web"}), ("b", {"app": "y"}), ("c", {})]:
        await api.post(WIDGETS_URL, {**widget(name), "metadata": {"name": name, "labels": labels}})

    async def names(**params: str) -> list[str]:
        status, body = await api.get("/apis/example.com/v1/widgets", **params)
        assert status == 200
        return [item["metadata"]["name"] for item in body["items"]]

    _, listing = await api.get(WIDGETS_URL)
    assert listing["kind"] == "WidgetList" and listing["apiVersion"] == "example.com/v1"
    assert listing["metadata"]["resourceVersion"] == kube.resource_version
    assert await names() == ["a", "b", "c"]
    assert await names(labelSelector="app=x") == ["a"]
    assert await names(labelSelector="app!=x") == ["b", "c"]
    assert await names(labelSelector="app in (x,y),!tier") == ["b"]
    assert await names(labelSelector="app") == ["a", "b"]
    assert await names(fieldSelector="metadata.name=c") == ["c"]
    assert await names(fieldSelector="metadata.namespace=other") == []


async def test_merge_patch_merges_deletes_and_bumps_generation_on_spec_only(api: Api) -> None:
    # A CRD without the immutability rule: this test is about patching, not CEL.
    crd = copy.deepcopy(WIDGET_CRD)
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"] = {"type": "object"}
    api.kube.register_crd(crd)
    _, created = await api.post(WIDGETS_URL, widget("w1", a={"b": 1, "c": 2}, items=[1, 2], gone=True))

    status, body = await api.patch(f"{WIDGETS_URL}/w1", {"spec": {"a": {"b": 9}, "items": [3], "gone": None}})
    assert status == 200
    assert body["spec"] == {"a": {"b": 9, "c": 2}, "items": [3]}
    assert body["metadata"]["generation"] == 2
    assert int(body["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])

    _, labelled = await api.patch(f"{WIDGETS_URL}/w1", {"metadata": {"labels": {"x": "y"}}})
    assert labelled["metadata"]["generation"] == 2  # metadata changes do not bump it

    status, unchanged = await api.patch(f"{WIDGETS_URL}/w1", {"metadata": {"labels": {"x": "y"}}})
    assert status == 200  # a no-op write: no new version, so no watch event either
    assert unchanged["metadata"]["resourceVersion"] == labelled["metadata"]["resourceVersion"]


async def test_json_patch_with_failed_test_is_422_and_changes_nothing(api: Api) -> None:
    _, created = await api.post(WIDGETS_URL, widget("w1"))
    version = created["metadata"]["resourceVersion"]
    add_finalizer = {"op": "add", "path": "/metadata/finalizers", "value": ["x/y"]}

    stale = [{"op": "test", "path": "/metadata/resourceVersion", "value": "1"}, add_finalizer]
    status, error = await api.patch(f"{WIDGETS_URL}/w1", stale, content_type=JSON_PATCH)
    assert (status, error["reason"]) == (422, "Invalid")  # kopf's APIUnprocessableEntityError: retry later
    assert (await api.get(f"{WIDGETS_URL}/w1"))[1] == created

    fresh = [{"op": "test", "path": "/metadata/resourceVersion", "value": version}, add_finalizer]
    status, body = await api.patch(f"{WIDGETS_URL}/w1", fresh, content_type=JSON_PATCH)
    assert status == 200 and body["metadata"]["finalizers"] == ["x/y"]


async def test_put_needs_the_current_resource_version(api: Api) -> None:
    _, created = await api.post(WIDGETS_URL, widget("w1"))
    replacement = {**created, "metadata": {**created["metadata"], "labels": {"new": "yes"}}}

    status, body = await api.put(f"{WIDGETS_URL}/w1", replacement)
    assert status == 200 and body["metadata"]["labels"] == {"new": "yes"}

    status, error = await api.put(f"{WIDGETS_URL}/w1", replacement)  # its resourceVersion is now stale
    assert (status, error["reason"]) == (409, "Conflict")
    assert "the object has been modified" in error["message"]

    no_version = {**replacement, "metadata": {"name": "w1", "labels": {}}}
    status, error = await api.put(f"{WIDGETS_URL}/w1", no_version)
    assert (status, error["reason"]) == (422, "Invalid")


async def test_status_subresource_splits_the_writes(api: Api) -> None:
    await api.post(WIDGETS_URL, widget("w1", size=1))

    _, body = await api.patch(f"{WIDGETS_URL}/w1", {"status": {"phase": "Running"}})
    assert "status" not in body  # the main resource ignores .status

    everything = {"status": {"phase": "Running"}, "spec": {"size": 5}, "metadata": {"labels": {"a": "b"}}}
    _, body = await api.patch(f"{WIDGETS_URL}/w1/status", everything)
    assert body["status"] == {"phase": "Running"}
    assert body["spec"] == {"size": 1}  # /status changes only .status...
    assert "labels" not in body["metadata"]
    assert body["metadata"]["generation"] == 1  # ...and does not bump the generation


async def test_delete_with_finalizers_waits_for_their_removal(api: Api, kube: KubeEmulator) -> None:
    await api.post(WIDGETS_URL, {**widget("w1"), "metadata": {"name": "w1", "finalizers": ["x/y"]}})

    status, body = await api.delete(f"{WIDGETS_URL}/w1")
    assert status == 200
    assert body["metadata"]["deletionTimestamp"].endswith("Z")
    assert body["metadata"]["deletionGracePeriodSeconds"] == 0
    assert (await api.get(f"{WIDGETS_URL}/w1"))[0] == 200  # still there, held by the finalizer

    status, error = await api.patch(f"{WIDGETS_URL}/w1", {"metadata": {"finalizers": ["x/y", "x/z"]}})
    assert (status, error["reason"]) == (422, "Invalid")  # no new finalizers once being deleted

    status, _ = await api.patch(f"{WIDGETS_URL}/w1", {"metadata": {"finalizers": None}})
    assert status == 200
    assert (await api.get(f"{WIDGETS_URL}/w1"))[0] == 404
    assert kube.objects[WIDGETS, "ns1", "w1"].deleted
    assert (await api.delete(f"{WIDGETS_URL}/w1"))[0] == 404


async def test_watch_replays_events_after_a_resource_version_then_streams_live(api: Api) -> None:
    _, first = await api.post(WIDGETS_URL, widget("a"))
    await api.post(WIDGETS_URL, widget("b"))
    await api.patch(f"{WIDGETS_URL}/a", {"metadata": {"labels": {"x": "1"}}})
    await api.delete(f"{WIDGETS_URL}/b")

    async def create_later() -> None:
        await asyncio.sleep(0.05)
        await api.post(WIDGETS_URL, widget("c"))

    task = asyncio.create_task(create_later())
    events = await api.watch(
        "/apis/example.com/v1/widgets", count=4, resourceVersion=first["metadata"]["resourceVersion"]
    )
    await task
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "b"),
        ("MODIFIED", "a"),
        ("DELETED", "b"),
        ("ADDED", "c"),
    ]


async def test_watch_without_resource_version_starts_with_current_objects(api: Api) -> None:
    await api.post(WIDGETS_URL, widget("a"))
    await api.post("/apis/example.com/v1/namespaces/ns2/widgets", widget("b"))

    events = await api.watch(WIDGETS_URL, count=1)  # namespace-scoped: ns1 only
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "a")]


async def test_watch_ends_after_timeout_seconds(api: Api) -> None:
    async with api.kube.request("GET", WIDGETS_URL, params={"watch": "true", "timeoutSeconds": "0.1"}) as rsp:
        async with asyncio.timeout(5):
            assert await rsp.content.read() == b""  # ended by the server, nothing happened


async def test_watch_from_a_compacted_resource_version_gets_410_gone() -> None:
    async with serve_emulator(crds=[WIDGET_CRD], history_limit=2) as kube:
        api = Api(kube)
        _, first = await api.post(WIDGETS_URL, widget("a"))
        for name in "bcd":
            await api.post(WIDGETS_URL, widget(name))

        [event] = await api.watch(WIDGETS_URL, count=1, resourceVersion=first["metadata"]["resourceVersion"])
        assert event["type"] == "ERROR"
        assert (event["object"]["code"], event["object"]["reason"]) == (410, "Expired")


async def test_cel_transition_rule_rejects_a_spec_edit_but_not_a_status_update(api: Api) -> None:
    _, created = await api.post(WIDGETS_URL, widget("job1", size=1))

    status, error = await api.patch(f"{WIDGETS_URL}/job1", {"spec": {"size": 2}})
    assert (status, error["reason"]) == (422, "Invalid")
    assert error["message"] == (
        'Widget.example.com "job1" is invalid: spec: Invalid value: "object": spec is immutable'
    )
    assert error["details"]["causes"] == [
        {"reason": "FieldValueInvalid", "field": "spec", "message": 'Invalid value: "object": spec is immutable'},
    ]
    assert (await api.get(f"{WIDGETS_URL}/job1"))[1] == created  # unchanged

    status, body = await api.patch(f"{WIDGETS_URL}/job1/status", {"status": {"phase": "InProgress"}})
    assert status == 200 and body["status"] == {"phase": "InProgress"}


async def test_cel_rule_rejects_an_invalid_create(api: Api, kube: KubeEmulator) -> None:
    status, error = await api.post(WIDGETS_URL, widget("w1", size=0))

    assert status == 422
    assert error["message"].endswith('spec: Invalid value: "object": size must be positive')
    assert kube.list_objects(WIDGETS) == []


async def test_crd_created_through_the_api_is_served(api: Api) -> None:
    crd = copy.deepcopy(WIDGET_CRD)
    crd["metadata"]["name"] = "gadgets.toys.io"
    crd["spec"].update(group="toys.io", names={"plural": "gadgets", "kind": "Gadget"}, scope="Cluster")

    status, body = await api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    assert status == 201
    assert {c["type"]: c["status"] for c in body["status"]["conditions"]}["Established"] == "True"

    _, discovery = await api.get("/apis/toys.io/v1")
    resources = {r["name"]: r for r in discovery["resources"]}
    assert set(resources) == {"gadgets", "gadgets/status"}
    assert resources["gadgets"]["namespaced"] is False
    assert (await api.post("/apis/toys.io/v1/gadgets", {"metadata": {"name": "g1"}, "spec": {}}))[0] == 201

    broken = copy.deepcopy(crd)
    broken["metadata"]["name"] = "broken.toys.io"
    broken["spec"]["names"] = {"plural": "broken", "kind": "Broken"}
    schema = broken["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    schema["x-kubernetes-validations"] = [{"rule": "self.x =="}]
    status, error = await api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", broken)
    assert (status, error["reason"]) == (422, "Invalid")
    assert "compilation failed" in error["message"]

    status, _ = await api.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.toys.io")
    assert status == 200
    assert (await api.get("/apis/toys.io/v1"))[0] == 404  # as after `kubectl delete -f crds/`
    assert (await api.get("/apis/toys.io/v1/gadgets"))[0] == 404


async def test_python_helpers_share_the_api_semantics(api: Api, kube: KubeEmulator) -> None:
    assert kube.register_crd(WIDGET_CRD) == [kmock.resource(WIDGETS)]  # re-applying is fine
    assert kube.resource_for("example.com/v1", "Widget") == kmock.resource(WIDGETS)

    manifest = {**widget("seeded", size=3), "metadata": {"name": "seeded", "namespace": "ns1"}}
    created = kube.create_object(manifest)
    assert await api.get(f"{WIDGETS_URL}/seeded") == (200, created)
    assert created["metadata"]["uid"] and created["metadata"]["generation"] == 1
    assert [w["metadata"]["name"] for w in kube.list_objects(WIDGETS, "ns1")] == ["seeded"]


async def test_any_namespace_exists_and_used_ones_are_listed(api: Api) -> None:
    await api.post("/apis/example.com/v1/namespaces/team-a/widgets", widget("w1"))

    status, namespaces = await api.get("/api/v1/namespaces")
    assert status == 200 and namespaces["kind"] == "NamespaceList"
    assert [ns["metadata"]["name"] for ns in namespaces["items"]] == ["default", "team-a"]
    status, body = await api.get("/api/v1/namespaces/never-used")
    assert status == 200 and body["status"]["phase"] == "Active"


async def test_events_are_stored_and_found_by_their_involved_object(api: Api, kube: KubeEmulator) -> None:
    _, job = await api.post(WIDGETS_URL, widget("w1"))
    ref = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "name": "w1",
        "namespace": "ns1",
        "uid": job["metadata"]["uid"],
    }
    for reason in ["Submitted", "Completed"]:  # as kopf posts them: no kind, a generateName
        body = {
            "metadata": {"namespace": "ns1", "generateName": "kopf-event-"},
            "type": "Normal",
            "reason": reason,
            "message": "...",
            "involvedObject": ref,
        }
        assert (await api.post("/api/v1/namespaces/ns1/events", body))[0] == 201
    unrelated = {"metadata": {"name": "other"}, "involvedObject": {"name": "x"}}
    await api.post("/api/v1/namespaces/ns1/events", unrelated)

    uid = ref["uid"]
    _, events = await api.get("/api/v1/namespaces/ns1/events", fieldSelector=f"involvedObject.uid={uid}")
    assert [e["reason"] for e in events["items"]] == ["Submitted", "Completed"]
    assert [e["reason"] for e in kube.events_for("w1", "ns1", kind="Widget")] == ["Submitted", "Completed"]


async def test_kmock_views_and_reactions_keep_working(api: Api, kube: KubeEmulator) -> None:
    await api.post(WIDGETS_URL, widget("w1", size=1))
    await api.patch(f"{WIDGETS_URL}/w1/status", {"status": {"phase": "Done"}})

    assert kube.objects[WIDGETS, "ns1", "w1"] >= {"spec": {"size": 1}, "status": {"phase": "Done"}}
    assert len(kube.objects[WIDGETS, "ns1", "w1"].history) == 2
    assert [request.subresource for request in kube if request.method == kmock.method.PATCH] == ["status"]

    kube[kmock.method.GET, kmock.name("w1")] << 503  # a user's reaction still wins: fault injection
    assert (await api.get(f"{WIDGETS_URL}/w1"))[0] == 503


async def test_plain_form_exits_promptly_with_an_open_watch() -> None:
    async with aiohttp.ClientSession() as client, asyncio.timeout(5):  # no hang on the server's exit
        async with KubeEmulator() as kube, kmock.Server(kube):
            url = kube.url.with_path("/api/v1/namespaces/default/events")
            response = await client.get(url, params={"watch": "true"})
        assert await response.content.read() == b""  # the stream was ended, not cut
