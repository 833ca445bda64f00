"""Endpoints: CreateEndpoint, DescribeEndpoint, UpdateEndpoint, UpdateEndpointWeightsAndCapacities,
DeleteEndpoint, ListEndpoints.

Nothing runs in the background: each operation appends the phases it plans (from the simulated
clock and :class:`~.lifecycle.StageDurations`) and the state at any moment is the last phase begun::

    CreateEndpoint:   Creating -> InService                 (endpoint_creating later)
                      Creating -> Failed + FailureReason    (a model fails its health check)
    UpdateEndpoint:   Updating -> InService on the new configuration
                      Updating -> InService on the OLD configuration + FailureReason (the update
                                  failed and SageMaker rolled back; the endpoint never stopped serving)
    UpdateEndpointWeightsAndCapacities: Updating -> InService with the new weights and counts
    DeleteEndpoint:   Deleting -> gone                      (endpoint_deleting later)

While Updating, the endpoint still serves (and Describe still names) the configuration it had;
EndpointConfigName switches only when the update succeeds. Update and delete are accepted only from a
settled state, so a plan is never cut short. :attr:`Endpoint.timeline` records, per status change,
which configuration was serving, so a test can prove an update left no moment without one.

A deployment fails when one of its models has a container whose ``Environment`` sets
``SAGEMAKER_SIMULATOR_FAILURE_REASON`` (see :mod:`.models`): FailureReason is SageMaker's health-check
message followed by that string. Instances log to ``/aws/sagemaker/Endpoints/<endpoint>``, one stream
``<variant>/<instance id>`` per instance a deployment (or added capacity) starts.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from .clock import SimClock
from .endpoint_configs import EndpointConfig, endpoint_config_arn, find_endpoint_config
from .errors import already_existing, could_not_find, validation_error
from .lifecycle import StageDurations
from .listing import filter_summaries, page, standard_sort_keys
from .logs import (
    EndpointInstance,
    HostedContainer,
    JobLog,
    LogLine,
    endpoint_log_group,
    ensure_log_group,
    instance_id,
    plan_endpoint_instance_log,
)
from .models import Container, find_model
from .protocol import RequestContext, sagemaker_operation

if TYPE_CHECKING:
    from .core import Simulator

SERVING_STATUSES = frozenset({"InService", "Updating", "SystemUpdating"})
"""Statuses in which an endpoint with a deployed configuration answers invocations."""
IN_PROGRESS_STATUSES = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})


def endpoint_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:sagemaker:{region}:{account_id}:endpoint/{name.lower()}"


def resolved_image(image: str) -> str:
    """The digest form SageMaker reports in DeployedImages (``repo@sha256:...``), fixed per image."""
    if "@" in image:
        return image
    head, _, last = image.rpartition("/")
    repository = f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]
    return f"{repository}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


@dataclass(frozen=True)
class Variant:
    """A production variant as deployed: its model's containers, weight and capacity."""

    name: str
    model_name: str
    containers: tuple[Container, ...]
    instance_type: str | None
    accelerator_type: str | None
    weight: float
    count: int | None
    """Instances; None for a serverless variant."""
    serverless: dict[str, Any] | None

    @property
    def instances(self) -> int:
        return 1 if self.count is None else self.count


@dataclass(frozen=True)
class Failure:
    """Why a deployment fails its health check: the variant, FailureReason and the container's message."""

    variant: str
    reason: str
    detail: str


@dataclass(frozen=True)
class Deployment:
    """One endpoint configuration deployed at ``started`` (also the images' ResolutionTime)."""

    config_name: str
    variants: tuple[Variant, ...]
    started: datetime
    config: dict[str, Any]
    """The CreateEndpointConfig request as deployed (an endpoint outlives a deleted configuration)."""
    data_capture: dict[str, Any] | None
    failure: Failure | None


@dataclass(frozen=True)
class Phase:
    """One status of an endpoint from ``start`` on, with what it serves and what is being deployed."""

    start: datetime
    status: str
    config_name: str
    """EndpointConfigName as DescribeEndpoint answers it."""
    serving: Deployment | None = None
    """The fleet taking traffic (ProductionVariants); None while creating, once failed or deleted."""
    pending: Deployment | None = None
    """A configuration being deployed (PendingDeploymentSummary)."""
    desired: tuple[Variant, ...] | None = None
    """New weights and counts an UpdateEndpointWeightsAndCapacities is applying."""
    failure_reason: str | None = None


class TimelineEntry(NamedTuple):
    """A status change: when, the EndpointStatus, and the configuration serving traffic (None: none)."""

    time: datetime
    status: str
    serving: str | None


def build_deployment(
    sim: Simulator,
    context: RequestContext,
    config: EndpointConfig,
    now: datetime,
    *,
    previous: Deployment | None = None,
    retain: bool = False,
    exclude: frozenset[str] = frozenset(),
) -> Deployment:
    """Deploy ``config`` as of ``now``: its models must exist (they are read now, as SageMaker does).

    With ``retain`` (RetainAllVariantProperties), variants named as in ``previous`` keep their current
    weight, instance count and data capture, except the properties in ``exclude``.
    """
    kept = {v.name: v for v in previous.variants} if previous is not None and retain else {}
    variants, failure = [], None
    for definition in config.production_variants:
        name = definition["VariantName"]
        model = find_model(sim, context, definition["ModelName"])
        containers = tuple(model.containers)
        weight = float(definition["InitialVariantWeight"])
        count = definition.get("InitialInstanceCount")
        old = kept.get(name)
        if old is not None:
            if "DesiredWeight" not in exclude:
                weight = old.weight
            if "DesiredInstanceCount" not in exclude and old.count is not None and count is not None:
                count = old.count
        variants.append(
            Variant(
                name=name,
                model_name=model.name,
                containers=containers,
                instance_type=definition.get("InstanceType"),
                accelerator_type=definition.get("AcceleratorType"),
                weight=weight,
                count=count,
                serverless=copy.deepcopy(definition.get("ServerlessConfig")),
            )
        )
        broken = next((c for c in containers if c.failure), None)
        if failure is None and broken is not None and broken.failure is not None:
            reason = (
                f"The {broken.label} for production variant {name} did not pass the ping health check. "
                f"Please check CloudWatch logs for this endpoint. {broken.failure}"
            )
            failure = Failure(name, reason, broken.failure)
    data_capture = config.request.get("DataCaptureConfig")
    if previous is not None and retain and "DataCaptureConfig" not in exclude:
        data_capture = previous.data_capture
    return Deployment(
        config_name=config.name,
        variants=tuple(variants),
        started=now,
        config=copy.deepcopy(config.request),
        data_capture=copy.deepcopy(data_capture),
        failure=failure,
    )


@dataclass(eq=False)
class Endpoint:
    """A simulated endpoint: the phases its operations planned, its instances and their logs."""

    KIND = "endpoint"

    name: str
    arn: str
    account_id: str
    region: str
    tags: list[dict[str, str]]
    created: datetime
    clock: SimClock
    durations: StageDurations
    pings: int
    """Health-check lines each instance logs once in service (the simulator's ``log_lines_per_host``)."""
    phases: list[Phase] = field(default_factory=list)
    instances: list[EndpointInstance] = field(default_factory=list)
    deleted_at: datetime | None = None
    """When DeleteEndpoint completes; from then on the endpoint does not exist."""
    log: JobLog = field(init=False)
    _plans: list[tuple[EndpointInstance, list[LogLine]]] = field(init=False, default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self.log = JobLog(self.account_id, self.region, "", group=endpoint_log_group(self.name))

    # -- state --------------------------------------------------------------------------------------

    def state(self, now: datetime) -> Phase:
        """The phase the endpoint is in at ``now`` (its first one before it was created)."""
        current = self.phases[0]
        for phase in self.phases[1:]:
            if phase.start > now:
                break
            current = phase
        return current

    def status(self, now: datetime) -> str:
        return self.state(now).status

    def expired(self, now: datetime) -> bool:
        """Whether the endpoint has been deleted by ``now`` (the store drops it then)."""
        return self.deleted_at is not None and now >= self.deleted_at

    @property
    def timeline(self) -> list[TimelineEntry]:
        """Every status change so far: (time, EndpointStatus, configuration serving traffic or None)."""
        now = self.clock.now()
        return [
            TimelineEntry(
                phase.start,
                phase.status,
                phase.serving.config_name if phase.serving is not None and phase.status in SERVING_STATUSES else None,
            )
            for phase in self.phases
            if phase.start <= now
        ]

    def log_stream_names(self) -> list[str]:
        """The endpoint's CloudWatch log streams so far, one per instance, oldest first."""
        now = self.clock.now()
        return [instance.stream for instance in self.instances if instance.start <= now]

    # -- operations (each plans its phases; the caller has checked the endpoint is settled) ---------

    def create(self, deployment: Deployment) -> None:
        """Plan Creating, then InService (or Failed) ``endpoint_creating`` later."""
        ready = self.created + timedelta(seconds=self.durations.endpoint_creating)
        self.phases.append(Phase(self.created, "Creating", deployment.config_name, pending=deployment))
        if deployment.failure is None:
            self.phases.append(Phase(ready, "InService", deployment.config_name, serving=deployment))
        else:
            reason = deployment.failure.reason
            self.phases.append(Phase(ready, "Failed", deployment.config_name, failure_reason=reason))
        self._launch(deployment, ready)

    def update(self, now: datetime, deployment: Deployment) -> None:
        """Plan Updating (still serving the current fleet), then InService on the new one or rolled back."""
        current = self.state(now)
        done = now + timedelta(seconds=self.durations.endpoint_updating)
        self.phases.append(Phase(now, "Updating", current.config_name, serving=current.serving, pending=deployment))
        if deployment.failure is None:
            self.phases.append(Phase(done, "InService", deployment.config_name, serving=deployment))
            self._end_instances(done)  # traffic has shifted to the new fleet; the old one goes
        else:
            self.phases.append(
                Phase(
                    done,
                    "InService",
                    current.config_name,
                    serving=current.serving,
                    failure_reason=deployment.failure.reason,
                )
            )
        self._launch(deployment, done)

    def change_capacity(self, now: datetime, desired: tuple[Variant, ...]) -> None:
        """Plan Updating (desired values visible at once), then InService with them as current."""
        current = self.state(now)
        assert current.serving is not None
        done = now + timedelta(seconds=self.durations.endpoint_updating)
        self.phases.append(Phase(now, "Updating", current.config_name, serving=current.serving, desired=desired))
        scaled = replace(current.serving, variants=desired)
        self.phases.append(Phase(done, "InService", current.config_name, serving=scaled))
        for old, new in zip(current.serving.variants, desired, strict=True):
            if old.count is None or new.count is None or old.count == new.count:
                continue
            live = [i for i, inst in enumerate(self.instances) if inst.variant == old.name and inst.end is None]
            if new.count > old.count:
                self._start(new, new.count - old.count, now, done, None)
            else:
                for index in live[new.count - old.count :]:
                    self.instances[index] = replace(self.instances[index], end=done)

    def delete(self, now: datetime) -> None:
        """Plan Deleting, after which the endpoint is gone; its instances stop at once."""
        current = self.state(now)
        self.phases.append(Phase(now, "Deleting", current.config_name, serving=current.serving))
        self.deleted_at = now + timedelta(seconds=self.durations.endpoint_deleting)
        self._end_instances(now)

    def _launch(self, deployment: Deployment, ready: datetime) -> None:
        failure = deployment.failure
        for variant in deployment.variants:
            self._start(variant, variant.instances, deployment.started, ready, failure)

    def _start(
        self,
        variant: Variant,
        count: int,
        start: datetime,
        ready: datetime,
        failure: Failure | None,
    ) -> None:
        """Start ``count`` instances of ``variant``; a failing deployment's instances all end at ``ready``."""
        containers = tuple(HostedContainer(c.hostname, c.image, c.model_data_url) for c in variant.containers)
        for _ in range(count):
            number = len(self.instances)
            self.instances.append(
                EndpointInstance(
                    variant=variant.name,
                    instance_id=instance_id(f"{self.arn}/{variant.name}", number),
                    instance_type=variant.instance_type or "serverless",
                    model_name=variant.model_name,
                    containers=containers,
                    start=start,
                    ready=ready,
                    failure=failure.detail if failure is not None and failure.variant == variant.name else None,
                    end=ready if failure is not None else None,
                )
            )

    def _end_instances(self, at: datetime) -> None:
        for index, instance in enumerate(self.instances):
            if instance.end is None:
                self.instances[index] = replace(instance, end=at)

    # -- side effects ---------------------------------------------------------------------------------

    def refresh(self, now: datetime) -> bool:
        """Append the instances' log lines due by ``now``; False once settled (or gone) with logs complete."""
        for index, instance in enumerate(self.instances):
            if index == len(self._plans):
                self._plans.append((instance, plan_endpoint_instance_log(instance, self.pings)))
            elif self._plans[index][0] is not instance:
                self._plans[index] = (instance, plan_endpoint_instance_log(instance, self.pings))
        streams = [(instance.stream, lines) for instance, lines in self._plans]
        complete = self.log.flush_streams(streams, now)
        settled = self.phases[-1].start <= now and (self.deleted_at is None or now >= self.deleted_at)
        return not (complete and settled)

    # -- responses ------------------------------------------------------------------------------------

    def describe(self, now: datetime) -> dict[str, Any]:
        """The DescribeEndpoint response at ``now``."""
        phase = self.state(now)
        response: dict[str, Any] = {
            "EndpointName": self.name,
            "EndpointArn": self.arn,
            "EndpointConfigName": phase.config_name,
        }
        if phase.serving is not None:
            desired = {v.name: v for v in phase.desired or ()}
            response["ProductionVariants"] = [
                _variant_summary(v, desired.get(v.name, v), phase.serving) for v in phase.serving.variants
            ]
            if phase.serving.data_capture:
                response["DataCaptureConfig"] = _data_capture_summary(phase.serving.data_capture)
        response["EndpointStatus"] = phase.status
        if phase.failure_reason is not None:
            response["FailureReason"] = phase.failure_reason
        response.update(CreationTime=self.created, LastModifiedTime=phase.start)
        shown = phase.serving or phase.pending
        for key in ("AsyncInferenceConfig", "ExplainerConfig"):
            if shown is not None and key in shown.config:
                response[key] = copy.deepcopy(shown.config[key])
        if phase.pending is not None:
            response["PendingDeploymentSummary"] = _pending_summary(phase.pending)
        return response

    def summary(self, now: datetime) -> dict[str, Any]:
        """The endpoint's entry in ListEndpoints."""
        phase = self.state(now)
        return {
            "EndpointName": self.name,
            "EndpointArn": self.arn,
            "CreationTime": self.created,
            "LastModifiedTime": phase.start,
            "EndpointStatus": phase.status,
        }


def _images(variant: Variant, deployment: Deployment) -> list[dict[str, Any]]:
    return [
        {"SpecifiedImage": c.image, "ResolvedImage": resolved_image(c.image), "ResolutionTime": deployment.started}
        for c in variant.containers
        if c.image
    ]


def _variant_summary(current: Variant, desired: Variant, deployment: Deployment) -> dict[str, Any]:
    """A ProductionVariantSummary: current values, and desired ones while a capacity change runs."""
    summary: dict[str, Any] = {
        "VariantName": current.name,
        "DeployedImages": _images(current, deployment),
        "CurrentWeight": current.weight,
        "DesiredWeight": desired.weight,
    }
    if current.serverless is None:
        summary["CurrentInstanceCount"] = current.count
        summary["DesiredInstanceCount"] = desired.count
    else:
        summary["CurrentServerlessConfig"] = copy.deepcopy(current.serverless)
        summary["DesiredServerlessConfig"] = copy.deepcopy(desired.serverless)
    return summary


def _pending_summary(deployment: Deployment) -> dict[str, Any]:
    """PendingDeploymentSummary: the configuration being deployed, its variants still Creating."""
    variants = []
    for variant in deployment.variants:
        summary: dict[str, Any] = {"VariantName": variant.name, "DesiredWeight": variant.weight}
        if variant.serverless is None:
            summary["DesiredInstanceCount"] = variant.count
            summary["InstanceType"] = variant.instance_type
        else:
            summary["DesiredServerlessConfig"] = copy.deepcopy(variant.serverless)
        if variant.accelerator_type:
            summary["AcceleratorType"] = variant.accelerator_type
        summary["VariantStatus"] = [{"Status": "Creating", "StartTime": deployment.started}]
        variants.append(summary)
    return {
        "EndpointConfigName": deployment.config_name,
        "ProductionVariants": variants,
        "StartTime": deployment.started,
    }


def _data_capture_summary(config: dict[str, Any]) -> dict[str, Any]:
    enabled = bool(config.get("EnableCapture", True))
    summary: dict[str, Any] = {
        "EnableCapture": enabled,
        "CaptureStatus": "Started" if enabled else "Stopped",
        "CurrentSamplingPercentage": config.get("InitialSamplingPercentage", 0),
        "DestinationS3Uri": config.get("DestinationS3Uri", ""),
    }
    if config.get("KmsKeyId"):
        summary["KmsKeyId"] = config["KmsKeyId"]
    return summary


# -- operations -----------------------------------------------------------------------------------


def _find(sim: Simulator, context: RequestContext, name: str, now: datetime) -> Endpoint:
    endpoint = sim.store.get(Endpoint.KIND, context.account_id, context.region, name)
    if endpoint is None or (isinstance(endpoint, Endpoint) and endpoint.expired(now)):
        raise could_not_find("endpoint", endpoint_arn(context.region, context.account_id, name))
    assert isinstance(endpoint, Endpoint)
    return endpoint


def _check_settled(endpoint: Endpoint, now: datetime) -> None:
    """Updates need an InService endpoint: SageMaker refuses them on a failed or busy one."""
    status = endpoint.status(now)
    if status == "Failed":
        raise validation_error(f'Cannot update failed endpoint "{endpoint.arn}".')
    if status != "InService":
        raise validation_error(f'Cannot update in-progress endpoint "{endpoint.arn}".')


@sagemaker_operation("CreateEndpoint")
def create_endpoint(sim: Simulator, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["EndpointName"]
    arn = endpoint_arn(context.region, context.account_id, name)
    now = sim.clock.now()
    existing = sim.store.get(Endpoint.KIND, context.account_id, context.region, name)
    if isinstance(existing, Endpoint) and not existing.expired(now):
        raise already_existing("endpoint", arn)
    config = find_endpoint_config(sim, context, params["EndpointConfigName"])
    deployment = build_deployment(sim, context, config, now)
    endpoint = Endpoint(
        name=name,
        arn=arn,
        account_id=context.account_id,
        region=context.region,
        tags=[dict(tag) for tag in params.get("Tags") or []],
        created=now,
        clock=sim.clock,
        durations=sim.durations,
        pings=sim.log_lines_per_host,
    )
    endpoint.create(deployment)
    sim.store.add(Endpoint.KIND, endpoint)
    ensure_log_group(context.account_id, context.region, endpoint_log_group(name))
    sim.track(endpoint)
    return {"EndpointArn": arn}


@sagemaker_operation("DescribeEndpoint")
def describe_endpoint(sim: Simulator, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    now = sim.clock.now()
    return _find(sim, context, params["EndpointName"], now).describe(now)


@sagemaker_operation("UpdateEndpoint")
def update_endpoint(sim: Simulator, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    now = sim.clock.now()
    endpoint = _find(sim, context, params["EndpointName"], now)
    _check_settled(endpoint, now)
    config = find_endpoint_config(sim, context, params["EndpointConfigName"])
    current = endpoint.state(now)
    # SageMaker reads the endpoint's current configuration to update it: once deleted, updates fail.
    if sim.store.get(EndpointConfig.KIND, context.account_id, context.region, current.config_name) is None:
        raise could_not_find(
            "endpoint configuration", endpoint_config_arn(context.region, context.account_id, current.config_name)
        )
    excluded = frozenset(p["VariantPropertyType"] for p in params.get("ExcludeRetainedVariantProperties") or [])
    deployment = build_deployment(
        sim,
        context,
        config,
        now,
        previous=current.serving,
        retain=bool(params.get("RetainAllVariantProperties", False)),
        exclude=excluded,
    )
    endpoint.update(now, deployment)
    sim.track(endpoint)
    return {"EndpointArn": endpoint.arn}


@sagemaker_operation("UpdateEndpointWeightsAndCapacities")
def update_weights_and_capacities(sim: Simulator, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    now = sim.clock.now()
    endpoint = _find(sim, context, params["EndpointName"], now)
    _check_settled(endpoint, now)
    serving = endpoint.state(now).serving
    assert serving is not None
    changes = {change["VariantName"]: change for change in params["DesiredWeightsAndCapacities"]}
    unknown = sorted(set(changes) - {v.name for v in serving.variants})
    if unknown:
        raise validation_error(f'The variant(s) "{", ".join(unknown)}" are not present in endpoint "{endpoint.arn}".')
    desired = []
    for variant in serving.variants:
        change = changes.get(variant.name)
        if change is None:
            desired.append(variant)
            continue
        count, serverless = variant.count, variant.serverless
        if change.get("DesiredInstanceCount") is not None:
            if variant.serverless is not None:
                raise validation_error(
                    f"Variant {variant.name} is serverless: use ServerlessUpdateConfig, not DesiredInstanceCount."
                )
            count = int(change["DesiredInstanceCount"])
        if change.get("ServerlessUpdateConfig") is not None:
            if variant.serverless is None:
                raise validation_error(
                    f"Variant {variant.name} is not serverless: ServerlessUpdateConfig does not apply."
                )
            serverless = {**variant.serverless, **change["ServerlessUpdateConfig"]}
        weight = float(change["DesiredWeight"]) if change.get("DesiredWeight") is not None else variant.weight
        desired.append(replace(variant, weight=weight, count=count, serverless=serverless))
    endpoint.change_capacity(now, tuple(desired))
    sim.track(endpoint)
    return {"EndpointArn": endpoint.arn}


@sagemaker_operation("DeleteEndpoint")
def delete_endpoint(sim: Simulator, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    now = sim.clock.now()
    endpoint = _find(sim, context, params["EndpointName"], now)
    if endpoint.status(now) in IN_PROGRESS_STATUSES:
        raise validation_error(f'Cannot update in-progress endpoint "{endpoint.arn}".')
    endpoint.delete(now)
    sim.track(endpoint)
    return {}


_SORT_KEYS = standard_sort_keys("EndpointName", "EndpointStatus")


@sagemaker_operation("ListEndpoints")
def list_endpoints(sim: Simulator, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    now = sim.clock.now()
    endpoints = sim.store.of_kind(Endpoint.KIND, context.account_id, context.region)
    summaries = [e.summary(now) for e in endpoints if isinstance(e, Endpoint) and not e.expired(now)]
    summaries = filter_summaries(summaries, params, name_key="EndpointName", status_key="EndpointStatus")
    return page(
        summaries,
        params,
        items_key="Endpoints",
        sort_keys=_SORT_KEYS,
        default_sort="CreationTime",
        default_order="Descending",
    )
