"""Shared mechanics of every SageMaker *job* kind (training now; tuning and transform reuse it).

A job is submitted once, followed until it ends, and stopped when its resource is deleted:

- ``submit`` (on create, and on a spec fix after SageMaker refused the spec): CreateX with a
  name derived from the resource, tagged with its UID. If the operator died after CreateX but
  before recording it, the retry meets ResourceInUse, finds our UID tag and adopts the job.
- ``sync`` (a kopf timer): asks the status source, writes status, posts an Event per transition.
- ``stop`` (the finalizer): StopX unless the deletion policy says retain; "already gone" is fine.

Each kind module supplies a ``JobKind``: the operation names and how a Describe answer maps to
its status fields. Everything else lives here, once.
"""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

import kopf

from sagemaker_operator import GROUP, VERSION
from sagemaker_operator.api import shapes
from sagemaker_operator.api.common import (
    DELETION_POLICY_ANNOTATION,
    OPERATOR_SPEC_FIELDS,
    Condition,
    ConditionType,
    Kind,
    is_true,
    merge_conditions,
    now_rfc3339,
)
from sagemaker_operator.aws import errors, naming, ownership
from sagemaker_operator.aws.errors import AWSError, ErrorKind
from sagemaker_operator.aws.sync import JOB_FINAL, JobRef
from sagemaker_operator.controllers.status import set_conditions, synced, terminal
from sagemaker_operator.local.spec import BackendChoice, FallbackError
from sagemaker_operator.settings import OperatorContext

# (context, job, Describe answer, current status) -> more status fields.
ExtraStatus = Callable[[OperatorContext, JobRef, Mapping[str, Any], Mapping[str, Any]], Awaitable[dict[str, Any]]]
TRANSITIONS_FIELD = "secondaryStatusTransitions"  # status field mirroring SecondaryStatusTransitions


class Alternate(Protocol):
    """Another place a job can run (the TensorFlow fallback for TrainingJobs): chosen at submission."""

    def runs_locally(self, status: Mapping[str, Any]) -> bool: ...
    def choose(self, body: kopf.Body, ctx: OperatorContext) -> BackendChoice: ...
    def on_capacity_error(self, body: kopf.Body, code: str | None, message: str | None) -> BackendChoice | None: ...
    async def start(self, body: kopf.Body, patch: kopf.Patch, ctx: OperatorContext, choice: BackendChoice) -> None: ...
    async def sync(self, body: kopf.Body, patch: kopf.Patch, ctx: OperatorContext) -> None: ...
    async def stop(self, body: kopf.Body, ctx: OperatorContext) -> None: ...


@dataclass(frozen=True)
class JobKind:
    """What differs between job kinds; see trainingjob.py for an example."""

    api: Kind
    noun: str  # "training job", for messages
    describe_operation: str
    stop_operation: str
    arn_key: str  # e.g. "TrainingJobArn", in Create* and Describe* responses
    status_key: str  # e.g. "TrainingJobStatus", in Describe* responses
    status_field: str  # e.g. "trainingJobStatus", in our status
    name_status_field: str  # e.g. "sageMakerTrainingJobName"
    arn_status_field: str  # e.g. "trainingJobArn"
    # Describe* response + region -> extra status fields of this kind.
    status_fields: Callable[[Mapping[str, Any], str], dict[str, Any]]
    # Describe* response -> the latest human-readable progress message, if the kind has one.
    progress_message: Callable[[Mapping[str, Any]], str] = lambda _: ""
    secondary_key: str | None = None  # e.g. "SecondaryStatus": transitions within InProgress
    # Status fields that need more SageMaker calls than the Describe (e.g. a tuning job's children).
    extra_status: ExtraStatus | None = None
    # (old status, new status fields) -> Events worth posting beyond status transitions: (type, reason, message).
    notable_changes: Callable[[Mapping[str, Any], Mapping[str, Any]], list[tuple[str, str, str]]] | None = None
    # False for resources without a lifecycle of their own (Model, EndpointConfig): created once, deleted on
    # delete (stop_operation is then the Delete*), never polled.
    lifecycle: bool = True
    alternate: Alternate | None = None

    def ref(self, name: str, region: str, endpoint: str | None) -> JobRef:
        return JobRef(self.describe_operation, self.api.name_member, name, region, endpoint)


# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class Target:
    """Where a resource's job lives in SageMaker."""

    name: str
    region: str
    endpoint: str | None

    @classmethod
    def of(cls, job: JobKind, ctx: OperatorContext, spec: Mapping[str, Any], meta: Mapping[str, Any]) -> Target:
        region, endpoint = ctx.clients.resolve(spec.get("region"), spec.get("sageMakerEndpoint"))
        name = spec.get(job.api.name_field) or naming.derive_name(meta["name"], meta["uid"], job.api.name_max_length)
        return cls(name=name, region=region, endpoint=endpoint)

    def client(self, ctx: OperatorContext) -> Any:
        return ctx.clients.sagemaker(self.region, self.endpoint)


def build_request(job: JobKind, spec: Mapping[str, Any], meta: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The Create* request: the spec by the botocore shape walk, plus the name and our ownership tags."""
    shape = shapes.operation(job.api.create_operation).input_shape
    skip = frozenset(OPERATOR_SPEC_FIELDS) | frozenset(job.api.extra_spec)
    request = shapes.to_request(shape, spec, skip=skip)
    request[job.api.name_member] = name
    request["Tags"] = naming.request_tags(request.get("Tags"), meta["namespace"], meta["name"], meta["uid"])
    return request


def record_failure(
    body: kopf.Body, patch: kopf.Patch, exc: AWSError, retry: int, ctx: OperatorContext, doing: str
) -> NoReturn:
    """Show an AWS failure in status and Events, then tell kopf whether to retry (never a storm)."""
    status, meta = body.get("status") or {}, body["metadata"]
    message = f"{doing} failed: {exc}. {exc.hint}"
    if exc.kind is ErrorKind.TERMINAL:
        set_conditions(patch, status, meta, synced(False, exc.code, message), terminal(True, exc.code, message))
        patch.status["additional"] = message
        kopf.warn(body, reason="SubmissionFailed" if doing.startswith("Creating") else "Failed", message=message)
        raise kopf.PermanentError(message)
    set_conditions(patch, status, meta, synced(False, exc.code, message))
    patch.status["additional"] = message
    if retry == 0 or exc.kind is ErrorKind.ACCESS:
        kopf.warn(body, reason=exc.code, message=message)  # once, not on every retry
    raise kopf.TemporaryError(message, delay=ctx.backoff(retry))


async def find_owned(job: JobKind, ctx: OperatorContext, target: Target, uid: str) -> dict[str, Any] | None:
    """Describe the named job; return it if our UID tag is on it, None if it does not exist.

    Raises a TERMINAL AWSError when the name belongs to somebody else's job.
    """
    described = await ctx.status_source.observe(job.ref(target.name, target.region, target.endpoint))
    if described is None:
        return None
    if await ownership.is_owned(target.client(ctx), described[job.arn_key], uid):
        return described
    raise ownership.name_taken(job.noun, target.name, target.region, job.api.name_field, job.api.create_operation)


def is_submitted(job: JobKind, status: Mapping[str, Any]) -> bool:
    return bool(status.get(job.arn_status_field)) or bool(job.alternate and job.alternate.runs_locally(status))


# --------------------------------------------------------------------------- handlers


async def submit(job: JobKind, body: kopf.Body, patch: kopf.Patch, retry: int, ctx: OperatorContext) -> None:
    spec, meta, status = body["spec"], body["metadata"], body.get("status") or {}
    if is_submitted(job, status):
        return
    if job.alternate:
        try:
            choice = job.alternate.choose(body, ctx)
        except FallbackError as exc:
            record_failure(body, patch, AWSError(ErrorKind.TERMINAL, "InvalidSpec", str(exc)), retry, ctx, "Choosing")
        if choice.is_local:
            await job.alternate.start(body, patch, ctx, choice)
            return
        patch.status["backend"], patch.status["backendReason"] = choice.backend.value, choice.reason
    target = Target.of(job, ctx, spec, meta)
    patch.status["region"] = target.region
    patch.status["sageMakerEndpoint"] = target.endpoint
    try:
        request = build_request(job, spec, meta, target.name)
    except shapes.SpecError as exc:
        record_failure(body, patch, AWSError(ErrorKind.TERMINAL, "InvalidSpec", str(exc)), retry, ctx, "Creating")
    try:
        response = await errors.call(target.client(ctx), job.api.create_operation, **request)
        arn, how = response[job.arn_key], "Created"
    except AWSError as exc:
        fallback = job.alternate.on_capacity_error(body, exc.code, exc.message) if job.alternate else None
        if job.alternate and fallback:
            await job.alternate.start(body, patch, ctx, fallback)
            return
        if exc.kind is not ErrorKind.IN_USE:
            record_failure(body, patch, exc, retry, ctx, f"Creating the SageMaker {job.noun}")
        try:
            existing = await find_owned(job, ctx, target, meta["uid"])
        except AWSError as lookup_exc:
            record_failure(body, patch, lookup_exc, retry, ctx, f"Creating the SageMaker {job.noun}")
        if existing is None:  # deleted in between: try again shortly
            raise kopf.TemporaryError(f"{target.name} was in use but is gone; retrying", delay=1) from exc
        arn, how = existing[job.arn_key], "Adopted"
    ctx.status_source.invalidate(job.ref(target.name, target.region, target.endpoint))
    patch.status[job.name_status_field] = target.name
    patch.status[job.arn_status_field] = arn
    patch.status["additional"] = None
    if job.lifecycle:
        outcome = Condition(type=ConditionType.SUCCEEDED, status="Unknown", reason="Submitted", message=f"{how} {arn}")
    else:
        patch.status[job.status_field] = "Created"
        patch.status["lastCheckTime"] = now_rfc3339()
        outcome = Condition(type=ConditionType.READY, status="True", reason="Created", message=f"{how} {arn}")
    set_conditions(patch, status, meta, synced(True), terminal(False), outcome)
    verb = "Created" if how == "Created" else "Adopted the existing (created before an operator restart)"
    kopf.info(body, reason="Submitted", message=f"{verb} SageMaker {job.noun} {target.name} in {target.region}")


async def resubmit_after_fix(
    job: JobKind, body: kopf.Body, patch: kopf.Patch, retry: int, ctx: OperatorContext
) -> None:
    """A spec edit: allowed (by the CRD's rule) only while SageMaker refuses the spec; then try again."""
    status = body.get("status") or {}
    if is_submitted(job, status):
        # Only reachable on API servers that do not enforce the CRD's CEL rule (Kubernetes < 1.25).
        kopf.warn(
            body,
            reason="SpecChangeIgnored",
            message=f"SageMaker {job.noun}s cannot be changed after submission; delete and re-create the resource",
        )
        return
    await submit(job, body, patch, retry, ctx)


async def sync(job: JobKind, body: kopf.Body, patch: kopf.Patch, ctx: OperatorContext) -> None:
    status, meta = body.get("status") or {}, body["metadata"]
    if not is_submitted(job, status) or meta.get("deletionTimestamp"):
        return
    if job.alternate and job.alternate.runs_locally(status):
        await job.alternate.sync(body, patch, ctx)
        return
    if status.get(job.status_field) in JOB_FINAL and is_true(status, ConditionType.SYNCED):
        return  # final state recorded: nothing will change any more
    ref = status_ref(job, status, ctx)
    try:
        described = await ctx.status_source.observe(ref)
        extra = await job.extra_status(ctx, ref, described, status) if described and job.extra_status else {}
    except AWSError as exc:
        message = f"Checking the SageMaker {job.noun} failed: {exc}. {exc.hint}"
        if is_true(status, ConditionType.SYNCED) or not status.get("conditions"):
            kopf.warn(body, reason=exc.code, message=message)
        set_conditions(patch, status, meta, synced(False, exc.code, message))
        patch.status["additional"] = message
        return
    if job.alternate and described and described.get(job.status_key) == "Failed":
        # SageMaker accepted the job but could not get capacity for it: run it in the cluster if opted in.
        choice = job.alternate.on_capacity_error(body, None, described.get("FailureReason"))
        if choice:
            await job.alternate.start(body, patch, ctx, choice)
            return
    if described is None:
        message = f"SageMaker has no {job.noun} named {ref.name} in {ref.region} any more"
        if is_true(status, ConditionType.SYNCED):
            kopf.warn(body, reason="NotFound", message=message)
        set_conditions(patch, status, meta, synced(False, "NotFound", message))
        return
    apply_description(job, body, patch, described, ref.region, ctx, extra)


def apply_description(
    job: JobKind,
    body: kopf.Body,
    patch: kopf.Patch,
    described: Mapping[str, Any],
    region: str,
    ctx: OperatorContext,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write a Describe answer into status; post an Event for every transition since the last one seen."""
    status, meta = body.get("status") or {}, body["metadata"]
    fields = {job.status_field: described[job.status_key], **job.status_fields(described, region), **(extra or {})}
    changed = {k: v for k, v in fields.items() if status.get(k) != v}
    post_transition_events(job, body, status, described)
    for event_type, reason, message in job.notable_changes(status, fields) if job.notable_changes else []:
        kopf.event(body, type=event_type, reason=reason, message=message)

    job_status = described[job.status_key]
    progress = job.progress_message(described)
    if job_status == "Completed":
        outcome = Condition(type=ConditionType.SUCCEEDED, status="True", reason="Completed", message=progress)
    elif job_status in ("Failed", "Stopped"):
        reason = described.get("FailureReason") or progress
        outcome = Condition(type=ConditionType.SUCCEEDED, status="False", reason=job_status, message=reason)
    else:
        secondary = described.get(job.secondary_key) if job.secondary_key else None
        outcome = Condition(
            type=ConditionType.SUCCEEDED, status="Unknown", reason=secondary or job_status, message=progress
        )
    conditions = merge_conditions(status.get("conditions") or [], [synced(True), outcome], meta.get("generation"))
    if not changed and conditions == status.get("conditions") and not _heartbeat_due(status, ctx):
        return  # nothing new: leave the resource alone (no write, no watch event)
    for key, value in fields.items():
        patch.status[key] = value
    patch.status["conditions"] = conditions
    patch.status["observedGeneration"] = meta.get("generation")
    patch.status["lastCheckTime"] = now_rfc3339()
    patch.status["additional"] = None


def _heartbeat_due(status: Mapping[str, Any], ctx: OperatorContext) -> bool:
    last = status.get("lastCheckTime")
    if not last:
        return True
    seen = datetime.datetime.fromisoformat(str(last).replace("Z", "+00:00"))
    age = (datetime.datetime.now(datetime.UTC) - seen).total_seconds()
    return age >= ctx.settings.status_heartbeat


def post_transition_events(
    job: JobKind, body: kopf.Body, status: Mapping[str, Any], described: Mapping[str, Any]
) -> None:
    """One Event per transition, including those that happened between two polls.

    Kinds with SecondaryStatusTransitions keep them in status, so the ones already announced are
    known by count (a status can repeat, e.g. Starting again after a spot interruption).
    """
    transitions = described.get("SecondaryStatusTransitions") or []
    if transitions:
        announced = len(status.get(TRANSITIONS_FIELD) or [])
        for transition in transitions[announced:]:
            _post_one(job, body, transition["Status"], transition.get("StatusMessage", ""), described)
    elif described[job.status_key] != status.get(job.status_field):
        _post_one(job, body, described[job.status_key], job.progress_message(described), described)


# Secondary statuses that mean trouble; everything else is a Normal event.
_WARNING_STATES = frozenset({"Failed", "Stopped", "MaxRuntimeExceeded", "MaxWaitTimeExceeded", "Interrupted"})


def _post_one(job: JobKind, body: kopf.Body, state: str, message: str, described: Mapping[str, Any]) -> None:
    if state == "Failed":
        kopf.warn(body, reason="Failed", message=described.get("FailureReason") or message or "failed")
    elif state in _WARNING_STATES:
        kopf.warn(body, reason=state, message=message or f"The SageMaker {job.noun} is {state}")
    else:
        kopf.info(body, reason=state, message=message or state)


async def stop(job: JobKind, body: kopf.Body, retry: int, ctx: OperatorContext) -> None:
    status, meta, spec = body.get("status") or {}, body["metadata"], body["spec"]
    policy = (meta.get("annotations") or {}).get(DELETION_POLICY_ANNOTATION, "delete").strip().lower()
    if policy == "retain":
        name = status.get(job.name_status_field) or "(never submitted)"
        kopf.info(
            body,
            reason="Retained",
            message=f"Deletion policy is retain: SageMaker {job.noun} {name} is left as is",
        )
        return
    if job.alternate and job.alternate.runs_locally(status):
        await job.alternate.stop(body, ctx)
        return
    if status.get(job.status_field) in JOB_FINAL:
        return
    target = Target.of(job, ctx, spec, meta)
    if status.get(job.name_status_field):
        target = Target(
            status[job.name_status_field],
            status.get("region") or target.region,
            status.get("sageMakerEndpoint") or target.endpoint,
        )
    elif is_true(status, ConditionType.TERMINAL):
        return  # SageMaker refused it: nothing was created
    try:
        if not status.get(job.name_status_field) and await find_owned(job, ctx, target, meta["uid"]) is None:
            return  # deleted before the job was ever created
        await errors.call(target.client(ctx), job.stop_operation, **{job.api.name_member: target.name})
    except AWSError as exc:
        if exc.kind in (ErrorKind.NOT_FOUND, ErrorKind.TERMINAL):
            return  # already ended or gone: exactly what deletion wants
        if retry < ctx.settings.delete_max_retries:
            raise kopf.TemporaryError(f"{job.stop_operation} {target.name}: {exc}", delay=ctx.backoff(retry)) from exc
        kopf.warn(
            body,
            reason=f"{job.stop_operation}Failed",
            message=f"Gave up on {job.stop_operation} for SageMaker {job.noun} {target.name} after {retry + 1} "
            f"attempts ({exc}); it may still exist: remove it with the AWS console or CLI",
        )
        return
    verb = "Stopping" if job.lifecycle else "Deleting"
    kopf.info(body, reason=verb, message=f"{verb} SageMaker {job.noun} {target.name}: its resource was deleted")


def status_ref(job: JobKind, status: Mapping[str, Any], ctx: OperatorContext) -> JobRef:
    """The SageMaker job a submitted resource's status names."""
    region = status.get("region") or ctx.settings.region
    return job.ref(status[job.name_status_field], region, status.get("sageMakerEndpoint"))


def followed_ref(job: JobKind, body: kopf.Body, ctx: OperatorContext) -> JobRef | None:
    """The SageMaker job a resource's timer waits on, or None when there is nothing to follow."""
    status = body.get("status") or {}
    if not status.get(job.arn_status_field) or status.get(job.status_field) in JOB_FINAL:
        return None
    return status_ref(job, status, ctx)


def register(registry: kopf.OperatorRegistry, job: JobKind, timer_interval: float) -> None:
    """Wire the shared job handlers for one kind into a kopf registry."""
    resource = (GROUP, VERSION, job.api.plural)

    @kopf.on.create(*resource, registry=registry, id="submit")
    async def _submit(body: kopf.Body, patch: kopf.Patch, retry: int, memo: kopf.Memo, **_: Any) -> None:
        await submit(job, body, patch, retry, memo.ctx)

    @kopf.on.update(*resource, registry=registry, id="resubmit", field="spec")
    async def _resubmit(body: kopf.Body, patch: kopf.Patch, retry: int, memo: kopf.Memo, **_: Any) -> None:
        await resubmit_after_fix(job, body, patch, retry, memo.ctx)

    if job.lifecycle:

        def submitted(status: Mapping[str, Any], **_: Any) -> bool:
            return is_submitted(job, status)

        # kopf evaluates ``when`` on each event of the resource: the timer starts once the status shows the
        # submitted job, and makes its first look at once. Started earlier, 200 timers of a burst of new
        # resources would re-check their bodies every tick while the create handlers were still busy.
        @kopf.timer(*resource, registry=registry, id="sync", interval=timer_interval, when=submitted)
        async def _sync(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **kwargs: Any) -> None:
            # ``body`` is live in timers: waiting here for news, then acting on it, sees the latest state.
            await memo.ctx.next_look(followed_ref(job, body, memo.ctx), kwargs["stopped"])
            if not kwargs["stopped"]:  # kopf gives a stopped timer a few loop cycles; it must not patch anything then
                await sync(job, body, patch, memo.ctx)

    @kopf.on.delete(*resource, registry=registry, id="stop")
    async def _stop(body: kopf.Body, retry: int, memo: kopf.Memo, **_: Any) -> None:
        try:
            await stop(job, body, retry, memo.ctx)
        finally:
            status = body.get("status") or {}
            if status.get(job.name_status_field):
                memo.ctx.status_source.forget(status_ref(job, status, memo.ctx))
