"""HostingDeployment: Models, an EndpointConfig and an Endpoint, kept as the spec says, updated without downtime.

Reconciling is level-based: every pass plans the SageMaker resources from the spec (names derived from their
content, so an unchanged model or config keeps its name), compares them with DescribeEndpoint and takes at
most one step. That makes a restart at any moment harmless: the next pass sees where things stand.

- No endpoint yet: create the models and the config (adopting ones a previous run created), then the endpoint.
- Creating / Updating: wait; a spec change made meanwhile is applied once the endpoint is InService.
- InService on another config: create the new models and config, UpdateEndpoint (SageMaker keeps serving the
  old config until the new one is in service: blue/green, no downtime).
- InService on the planned config with other weights or instance counts: UpdateEndpointWeightsAndCapacities,
  no new config.
- Steady: apply tag changes in place, delete superseded configs and models this deployment created.
- A failed update (SageMaker rolls back and keeps serving) or a config SageMaker refuses is recorded and not
  retried until the spec changes (a new generation).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import kopf

from sagemaker_operator import GROUP, VERSION
from sagemaker_operator.api import shapes
from sagemaker_operator.api.common import (
    DELETION_POLICY_ANNOTATION,
    OPERATOR_SPEC_FIELDS,
    Condition,
    ConditionType,
    is_true,
    now_rfc3339,
)
from sagemaker_operator.api.hosting import DESCRIBE_ENDPOINT, HOSTING_DEPLOYMENT, HOSTING_OWN_FIELDS
from sagemaker_operator.aws import errors, naming, ownership, urls
from sagemaker_operator.aws.errors import AWSError, ErrorKind
from sagemaker_operator.aws.sync import JobRef
from sagemaker_operator.controllers.status import set_conditions, synced, terminal
from sagemaker_operator.settings import OperatorContext

BUSY = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})
# Status fields only this controller writes; kept in memory so a stale body cannot make it repeat a step.
REMEMBERED = (
    "endpointStatus",
    "updatingTo",
    "failedEndpointConfigName",
    "failedGeneration",
    "cleanedUpFor",
    "appliedTagsHash",
)
BROKEN = frozenset({"Failed", "UpdateRollbackFailed"})
_NAME_CHARS = re.compile(r"[^a-zA-Z0-9-]+")


# --------------------------------------------------------------------------- the plan (pure)


@dataclass(frozen=True)
class ModelPlan:
    spec_name: str
    name: str  # in SageMaker
    request: dict[str, Any]


@dataclass(frozen=True)
class Plan:
    """What SageMaker should hold for this spec."""

    base: str  # every SageMaker name of this resource starts with it (found again by NameContains)
    endpoint_name: str
    models: tuple[ModelPlan, ...]
    config_name: str
    config_request: dict[str, Any]
    variants: dict[str, tuple[float, int | None]]  # variant -> (weight, instance count)
    tags: list[dict[str, str]]
    tags_hash: str


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def make_plan(spec: Mapping[str, Any], meta: Mapping[str, Any]) -> Plan:
    """Derive every SageMaker name and request from the spec; raises shapes.SpecError for a bad spec."""
    uid, namespace, resource_name = meta["uid"], meta["namespace"], meta["name"]
    base = naming.derive_name(resource_name, uid, 30)
    tags = naming.request_tags(
        [{"Key": t["key"], "Value": t.get("value", "")} for t in spec.get("tags") or []], namespace, resource_name, uid
    )

    model_shape = shapes.operation("CreateModel").input_shape
    models = []
    for index, item in enumerate(spec.get("models") or []):
        request = shapes.to_request(model_shape, item, skip=frozenset({"name"}), path=f"spec.models[{index}]")
        readable = _NAME_CHARS.sub("-", item["name"]).strip("-")[:22].strip("-") or "model"
        name = f"{base}-{readable}-{_digest(request)[:8]}"
        models.append(ModelPlan(item["name"], name, {**request, "ModelName": name, "Tags": tags}))
    by_spec_name = {m.spec_name: m.name for m in models}

    config_shape = shapes.operation("CreateEndpointConfig").input_shape
    skip = frozenset(HOSTING_OWN_FIELDS) | frozenset(OPERATOR_SPEC_FIELDS)
    config = shapes.to_request(config_shape, spec, skip=skip)
    for key in ("ProductionVariants", "ShadowProductionVariants"):
        for variant in config.get(key) or []:
            if "ModelName" in variant:  # a name of spec.models, or an existing SageMaker model used as is
                variant["ModelName"] = by_spec_name.get(variant["ModelName"], variant["ModelName"])
    # Weights and instance counts change in place (UpdateEndpointWeightsAndCapacities): not part of the name.
    structure = copy.deepcopy(config)
    for variant in structure.get("ProductionVariants") or []:
        variant.pop("InitialVariantWeight", None)
        variant.pop("InitialInstanceCount", None)
    config_name = f"{base}-{_digest(structure)[:12]}"
    variants = {
        v["VariantName"]: (float(v.get("InitialVariantWeight", 1.0)), v.get("InitialInstanceCount"))
        for v in config.get("ProductionVariants") or []
    }
    return Plan(
        base=base,
        endpoint_name=spec.get("endpointName") or naming.derive_name(resource_name, uid, 63),
        models=tuple(models),
        config_name=config_name,
        config_request={**config, "EndpointConfigName": config_name, "Tags": tags},
        variants=variants,
        tags=tags,
        tags_hash=_digest(tags)[:16],
    )


def weight_changes(plan: Plan, described: Mapping[str, Any]) -> list[dict[str, Any]]:
    """DesiredWeightsAndCapacities for the variants whose weight or instance count differs from the plan."""
    changes = []
    for variant in described.get("ProductionVariants") or []:
        wanted = plan.variants.get(variant["VariantName"])
        if wanted is None:
            continue
        weight, count = wanted
        current_weight = variant.get("DesiredWeight", variant.get("CurrentWeight"))
        current_count = variant.get("DesiredInstanceCount", variant.get("CurrentInstanceCount"))
        if (current_weight is not None and abs(float(current_weight) - weight) > 1e-9) or (
            count is not None and current_count is not None and int(current_count) != count
        ):
            change: dict[str, Any] = {"VariantName": variant["VariantName"], "DesiredWeight": weight}
            if count is not None:
                change["DesiredInstanceCount"] = count
            changes.append(change)
    return changes


# --------------------------------------------------------------------------- talking to SageMaker


@dataclass
class Deployment:
    """One reconcile pass: the resource, its plan, and where its SageMaker resources live."""

    body: kopf.Body
    patch: kopf.Patch
    ctx: OperatorContext
    plan: Plan
    region: str
    endpoint: str | None
    status: Mapping[str, Any]  # the resource's status, with what this operator wrote last laid over it

    @property
    def client(self) -> Any:
        return self.ctx.clients.sagemaker(self.region, self.endpoint)

    @property
    def uid(self) -> str:
        return str(self.body["metadata"]["uid"])

    @property
    def ref(self) -> JobRef:
        return JobRef(DESCRIBE_ENDPOINT, "EndpointName", self.plan.endpoint_name, self.region, self.endpoint)

    def touched(self) -> None:
        """The endpoint was just changed: the next look must ask SageMaker, not a cached answer."""
        self.ctx.status_source.invalidate(self.ref)

    def event(self, reason: str, message: str, warning: bool = False) -> None:
        (kopf.warn if warning else kopf.info)(self.body, reason=reason, message=message)

    def ready(self, state: str, reason: str, message: str = "") -> None:
        outcome = Condition(type=ConditionType.READY, status=state, reason=reason, message=message)
        set_conditions(self.patch, self.status, self.body["metadata"], synced(True), terminal(False), outcome)

    async def ensure(self, create: str, describe: str, name_param: str, arn_key: str, request: dict) -> None:
        """Create a model or config unless this deployment already did (its UID tag says so)."""
        try:
            await errors.call(self.client, create, **request)
        except AWSError as exc:
            if exc.kind is not ErrorKind.IN_USE:
                raise
            name = request[name_param]
            described = await errors.call(self.client, describe, **{name_param: name})
            if not await ownership.is_owned(self.client, described[arn_key], self.uid):
                raise ownership.name_taken(create.removeprefix("Create"), name, self.region, "name", create) from exc

    async def ensure_models_and_config(self) -> None:
        for model in self.plan.models:
            await self.ensure("CreateModel", "DescribeModel", "ModelName", "ModelArn", model.request)
        await self.ensure(
            "CreateEndpointConfig",
            "DescribeEndpointConfig",
            "EndpointConfigName",
            "EndpointConfigArn",
            self.plan.config_request,
        )

    async def create_endpoint(self) -> None:
        request = {"EndpointName": self.plan.endpoint_name, "EndpointConfigName": self.plan.config_name}
        if self.body["spec"].get("deploymentConfig"):
            request["DeploymentConfig"] = _endpoint_field(self.body["spec"], "DeploymentConfig")
        try:
            await errors.call(self.client, "CreateEndpoint", **request, Tags=self.plan.tags)
        except AWSError as exc:
            if exc.kind is not ErrorKind.IN_USE:
                raise
            described = await errors.call(self.client, "DescribeEndpoint", EndpointName=self.plan.endpoint_name)
            arn = described["EndpointArn"]
            if not await ownership.is_owned(self.client, arn, self.uid):
                raise ownership.name_taken(
                    "endpoint", self.plan.endpoint_name, self.region, "endpointName", "CreateEndpoint"
                ) from exc

    async def update_endpoint(self) -> None:
        spec = self.body["spec"]
        request: dict[str, Any] = {"EndpointName": self.plan.endpoint_name, "EndpointConfigName": self.plan.config_name}
        for field, member in (
            ("retainAllVariantProperties", "RetainAllVariantProperties"),
            ("excludeRetainedVariantProperties", "ExcludeRetainedVariantProperties"),
            ("deploymentConfig", "DeploymentConfig"),
        ):
            if spec.get(field) is not None:
                request[member] = _endpoint_field(spec, member)
        await errors.call(self.client, "UpdateEndpoint", **request)

    async def owned_leftovers(self, keep: set[str]) -> tuple[list[str], list[str]]:
        """Configs and models this deployment created that are not in ``keep`` (found by name, checked by tag)."""
        found: list[tuple[str, str, str]] = []
        for operation, key, name_key, arn_key in (
            ("ListEndpointConfigs", "EndpointConfigs", "EndpointConfigName", "EndpointConfigArn"),
            ("ListModels", "Models", "ModelName", "ModelArn"),
        ):
            for item in await errors.paginate(self.client, operation, key, NameContains=self.plan.base, MaxResults=100):
                name = item[name_key]
                if name.startswith(f"{self.plan.base}-") and name not in keep:
                    found.append((key, name, item[arn_key]))
        owned = [(key, name) for key, name, arn in found if await ownership.is_owned(self.client, arn, self.uid)]
        return [n for k, n in owned if k == "EndpointConfigs"], [n for k, n in owned if k == "Models"]

    async def delete_leftovers(self, keep: set[str]) -> list[str]:
        configs, models = await self.owned_leftovers(keep)
        for name in configs:  # configs first: they refer to the models
            await _delete(self.client, "DeleteEndpointConfig", EndpointConfigName=name)
        for name in models:
            await _delete(self.client, "DeleteModel", ModelName=name)
        return configs + models

    async def apply_tags(self, described: Mapping[str, Any]) -> None:
        """Tag changes apply in place, to the endpoint and its current config and models."""
        arns = [described["EndpointArn"]]
        config = await errors.call(
            self.client, "DescribeEndpointConfig", EndpointConfigName=described["EndpointConfigName"]
        )
        arns.append(config["EndpointConfigArn"])
        ours = {m.name for m in self.plan.models}
        for variant in config.get("ProductionVariants") or []:
            if variant.get("ModelName") in ours:
                model = await errors.call(self.client, "DescribeModel", ModelName=variant["ModelName"])
                arns.append(model["ModelArn"])
        wanted = {t["Key"]: t["Value"] for t in self.plan.tags}
        for arn in arns:
            current = await errors.call(self.client, "ListTags", ResourceArn=arn, MaxResults=100)
            stale = [
                t["Key"] for t in current.get("Tags", []) if t["Key"] not in wanted and not t["Key"].startswith("aws:")
            ]
            if stale:
                await errors.call(self.client, "DeleteTags", ResourceArn=arn, TagKeys=stale)
            await errors.call(self.client, "AddTags", ResourceArn=arn, Tags=self.plan.tags)


def _endpoint_field(spec: Mapping[str, Any], member: str) -> Any:
    shape = shapes.operation("UpdateEndpoint").input_shape
    return shapes.to_request(shape, {shapes.lower_camel(member): spec[shapes.lower_camel(member)]})[member]


async def _delete(client: Any, operation: str, **kwargs: Any) -> None:
    try:
        await errors.call(client, operation, **kwargs)
    except AWSError as exc:
        if exc.kind is not ErrorKind.NOT_FOUND:
            raise


# --------------------------------------------------------------------------- one reconcile pass


async def reconcile(body: kopf.Body, patch: kopf.Patch, ctx: OperatorContext, *, retry: int | None) -> None:
    """Take the next step towards the spec. ``retry`` is kopf's count in event handlers, None in the timer."""
    meta, spec = body["metadata"], body["spec"]
    if meta.get("deletionTimestamp"):
        return
    async with ctx.lock(meta["uid"]):
        # A timer's body can predate the last pass's status patch; what we wrote last is the truth for our fields.
        memory = ctx.memory(meta["uid"])
        status = {**(body.get("status") or {}), **memory}
        try:
            plan = make_plan(spec, meta)
        except shapes.SpecError as exc:
            message = f"The spec cannot become SageMaker requests: {exc}"
            set_conditions(
                patch, status, meta, synced(False, "InvalidSpec", message), terminal(True, "InvalidSpec", message)
            )
            return
        region, endpoint = ctx.clients.resolve(spec.get("region"), spec.get("sageMakerEndpoint"))
        deployment = Deployment(body, patch, ctx, plan, region, endpoint, status)
        patch.status["region"], patch.status["sageMakerEndpoint"] = region, endpoint
        patch.status["modelNames"] = [{"name": m.spec_name, "value": m.name} for m in plan.models]
        try:
            await step(deployment)
        except AWSError as exc:
            record_error(deployment, exc, retry)
        finally:
            memory.update({key: patch.status[key] for key in REMEMBERED if key in patch.status})


def record_error(deployment: Deployment, exc: AWSError, retry: int | None) -> None:
    patch, status, meta = deployment.patch, deployment.status, deployment.body["metadata"]
    message = f"{exc}. {exc.hint}"
    if exc.kind is ErrorKind.TERMINAL:
        # SageMaker refused this spec: remember it so the same spec is not sent again in a loop.
        patch.status["failedEndpointConfigName"] = deployment.plan.config_name
        patch.status["failedGeneration"] = meta.get("generation")
        set_conditions(patch, status, meta, synced(False, exc.code, message), terminal(True, exc.code, message))
        deployment.event("DeploymentRefused", message, warning=True)
        return
    was_synced = is_true(status, ConditionType.SYNCED) or not status.get("conditions")
    set_conditions(patch, status, meta, synced(False, exc.code, message))
    patch.status["additional"] = message
    if was_synced:
        deployment.event(exc.code, message, warning=True)
    if retry is not None:  # an event handler: let kopf retry soon; the timer just tries again next tick
        raise kopf.TemporaryError(message, delay=deployment.ctx.backoff(retry))


def _refused(deployment: Deployment) -> bool:
    """This exact spec already failed (refused, or its deployment failed) and has not been edited since."""
    status = deployment.status
    return status.get("failedEndpointConfigName") == deployment.plan.config_name and status.get(
        "failedGeneration"
    ) == deployment.body["metadata"].get("generation")


async def step(d: Deployment) -> None:
    plan, status, patch = d.plan, d.status, d.patch
    described = await d.ctx.status_source.observe(d.ref)

    if described is None:
        if _refused(d):
            return
        if status.get("endpointArn"):
            d.event("EndpointMissing", f"Endpoint {plan.endpoint_name} is gone from SageMaker; creating it again", True)
        await d.ensure_models_and_config()
        await d.create_endpoint()
        d.touched()
        patch.status.update(
            endpointName=plan.endpoint_name,
            endpointStatus="Creating",
            endpointConfigName=plan.config_name,
            endpointUrl=urls.endpoint_invocation_url(d.region, plan.endpoint_name),
            failedEndpointConfigName=None,
            failedGeneration=None,
        )
        d.event("Creating", f"Creating endpoint {plan.endpoint_name} with endpoint config {plan.config_name}")
        d.ready("Unknown", "Creating", f"Endpoint {plan.endpoint_name} is being created")
        return

    observe(d, described)
    state, current = described["EndpointStatus"], described["EndpointConfigName"]
    if state in BUSY:
        d.ready("Unknown", state, f"Endpoint is {state}; changes to the spec apply once it is InService")
        return
    if state in BROKEN:
        if current == plan.config_name or _refused(d):
            patch.status["failedEndpointConfigName"], patch.status["failedGeneration"] = (
                current,
                d.body["metadata"].get("generation"),
            )
            d.ready("False", state, described.get("FailureReason") or state)
            return
        # The spec changed since the endpoint failed: a failed endpoint cannot be updated, so replace it.
        await errors.call(d.client, "DeleteEndpoint", EndpointName=plan.endpoint_name)
        d.touched()
        d.event("Recreating", f"Endpoint {plan.endpoint_name} failed; deleting it to create it from the new spec")
        d.ready("Unknown", "Recreating", "Deleting the failed endpoint to create it again")
        return

    # InService (or another state SageMaker may add that serves traffic).
    updating_to = status.get("updatingTo")
    if updating_to:
        patch.status["updatingTo"] = None
        if current == updating_to:
            d.event("Updated", f"Endpoint {plan.endpoint_name} now serves endpoint config {current}")
        else:
            reason = described.get("FailureReason") or "the update did not take effect"
            patch.status["failedEndpointConfigName"] = updating_to
            patch.status["failedGeneration"] = d.body["metadata"].get("generation")
            d.event("UpdateFailed", f"Update to {updating_to} failed, still serving {current}: {reason}", True)
            d.ready("False", "UpdateFailed", f"Still serving {current}; update to {updating_to} failed: {reason}")
            await cleanup(d, current, force=True)  # the failed config and its new models are not in use
            return

    if current != plan.config_name:
        if _refused(d) or (updating_to and updating_to == plan.config_name):
            d.ready("False", "UpdateFailed", f"Still serving {current}: {described.get('FailureReason') or ''}")
            await cleanup(d, current)
            return
        await d.ensure_models_and_config()
        await d.update_endpoint()
        d.touched()
        patch.status.update(updatingTo=plan.config_name, failedEndpointConfigName=None, failedGeneration=None)
        d.event("Updating", f"Updating endpoint {plan.endpoint_name} from {current} to {plan.config_name}")
        d.ready("Unknown", "Updating", f"Moving from {current} to {plan.config_name} without downtime")
        return

    changes = weight_changes(plan, described)
    if changes:
        await errors.call(
            d.client,
            "UpdateEndpointWeightsAndCapacities",
            EndpointName=plan.endpoint_name,
            DesiredWeightsAndCapacities=changes,
        )
        d.touched()
        summary = ", ".join(
            f"{c['VariantName']}: weight {c['DesiredWeight']}"
            + (f", {c['DesiredInstanceCount']} instances" if "DesiredInstanceCount" in c else "")
            for c in changes
        )
        d.event("Scaling", f"Updating weights and capacities in place ({summary})")
        d.ready("Unknown", "Updating", "Applying new weights and instance counts")
        return

    if status.get("appliedTagsHash") != plan.tags_hash:
        await d.apply_tags(described)
        patch.status["appliedTagsHash"] = plan.tags_hash
    await cleanup(d, current)
    patch.status.update(failedEndpointConfigName=None, failedGeneration=None)
    d.ready("True", "InService", f"Serving endpoint config {current}")


def observe(d: Deployment, described: Mapping[str, Any]) -> None:
    """Status from DescribeEndpoint, and an Event when the endpoint's state changes."""
    status, patch = d.status, d.patch
    state = described["EndpointStatus"]
    if state != status.get("endpointStatus"):
        if state in BROKEN:
            d.event(state, described.get("FailureReason") or f"Endpoint is {state}", warning=True)
        else:
            d.event(state, f"Endpoint {described['EndpointName']} is {state}")
    patch.status.update(
        endpointName=described["EndpointName"],
        endpointArn=described["EndpointArn"],
        endpointStatus=state,
        endpointConfigName=described["EndpointConfigName"],
        endpointUrl=urls.endpoint_invocation_url(d.region, described["EndpointName"]),
        failureReason=described.get("FailureReason"),
        creationTime=shapes.response_member(DESCRIBE_ENDPOINT, "CreationTime", described),
        lastModifiedTime=shapes.response_member(DESCRIBE_ENDPOINT, "LastModifiedTime", described),
        productionVariants=shapes.response_member(DESCRIBE_ENDPOINT, "ProductionVariants", described),
        lastCheckTime=now_rfc3339(),
        additional=None,
    )


async def cleanup(d: Deployment, current_config: str, *, force: bool = False) -> None:
    """Delete superseded configs and models, once per config the endpoint settles on (or when forced)."""
    if d.status.get("cleanedUpFor") == current_config and not force:
        return
    config = await errors.call(d.client, "DescribeEndpointConfig", EndpointConfigName=current_config)
    in_use = {current_config} | {v.get("ModelName", "") for v in config.get("ProductionVariants") or []}
    in_use |= {v.get("ModelName", "") for v in config.get("ShadowProductionVariants") or []}
    deleted = await d.delete_leftovers(in_use)
    if deleted:
        d.event("CleanedUp", f"Deleted superseded SageMaker resources: {', '.join(sorted(deleted))}")
    d.patch.status["cleanedUpFor"] = current_config


# --------------------------------------------------------------------------- deletion


async def delete(body: kopf.Body, retry: int, ctx: OperatorContext) -> None:
    meta, spec, status = body["metadata"], body["spec"], body.get("status") or {}
    ctx.forget(meta["uid"])
    followed = followed_ref(body, ctx)
    if followed is not None:
        ctx.status_source.forget(followed)
    if (meta.get("annotations") or {}).get(DELETION_POLICY_ANNOTATION, "").strip().lower() == "retain":
        kopf.info(
            body, reason="Retained", message="Deletion policy is retain: the endpoint, its config and models stay"
        )
        return
    try:
        plan = make_plan(spec, meta)
    except shapes.SpecError:
        return  # nothing could have been created from it
    region, endpoint = ctx.clients.resolve(spec.get("region"), spec.get("sageMakerEndpoint"))
    deployment = Deployment(body, kopf.Patch(), ctx, plan, region, endpoint, status)
    try:
        if status.get("endpointArn") or status.get("endpointStatus"):
            await _delete(deployment.client, "DeleteEndpoint", EndpointName=plan.endpoint_name)
        deleted = await deployment.delete_leftovers(keep=set())
    except AWSError as exc:
        if retry < ctx.settings.delete_max_retries:
            raise kopf.TemporaryError(
                f"Deleting endpoint {plan.endpoint_name}: {exc}", delay=ctx.backoff(retry)
            ) from exc
        kopf.warn(
            body,
            reason="DeleteFailed",
            message=f"Gave up deleting endpoint {plan.endpoint_name} and its "
            f"configs and models after {retry + 1} attempts ({exc}); remove them with the AWS console or CLI",
        )
        return
    kopf.info(
        body,
        reason="Deleting",
        message=f"Deleting endpoint {plan.endpoint_name}" + (f" and {', '.join(sorted(deleted))}" if deleted else ""),
    )


def followed_ref(body: kopf.Body, ctx: OperatorContext) -> JobRef | None:
    status = body.get("status") or {}
    if not status.get("endpointName"):
        return None
    region = status.get("region") or ctx.settings.region
    return JobRef(DESCRIBE_ENDPOINT, "EndpointName", status["endpointName"], region, status.get("sageMakerEndpoint"))


def register(registry: kopf.OperatorRegistry, timer_interval: float) -> None:
    resource = (GROUP, VERSION, HOSTING_DEPLOYMENT.plural)

    @kopf.on.create(*resource, registry=registry, id="deploy")
    @kopf.on.update(*resource, registry=registry, id="redeploy", field="spec")
    async def _deploy(body: kopf.Body, patch: kopf.Patch, retry: int, memo: kopf.Memo, **_: Any) -> None:
        await reconcile(body, patch, memo.ctx, retry=retry)

    @kopf.timer(*resource, registry=registry, id="reconcile", interval=timer_interval)
    async def _reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **kwargs: Any) -> None:
        def being_created() -> bool:  # by the deploy handler: follow the endpoint as soon as it exists
            status = body.get("status") or {}
            return followed_ref(body, memo.ctx) is None and not is_true(status, ConditionType.TERMINAL)

        if await memo.ctx.wait_for_news(being_created, lambda: followed_ref(body, memo.ctx), kwargs["stopped"]):
            await reconcile(body, patch, memo.ctx, retry=None)

    @kopf.on.delete(*resource, registry=registry, id="delete")
    async def _delete_handler(body: kopf.Body, retry: int, memo: kopf.Memo, **_: Any) -> None:
        await delete(body, retry, memo.ctx)
