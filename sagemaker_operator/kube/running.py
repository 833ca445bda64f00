"""Run the real kopf reactor inside the current event loop, e.g. next to the API emulator.

Two kopf 1.45.2 behaviours make the obvious ``asyncio.create_task(kopf.operator(...))`` a trap
when other servers share the loop (the emulator, the SageMaker simulator, the demo):

* On stop, ``kopf.operator()`` treats every task created after its start as its own "hung"
  sub-task: it waits up to 5 seconds for them and then cancels them, including the HTTP
  server's connection handlers and the caller's own tasks. Here kopf only stops its own tasks.
* Credentials come from login handlers; adding one to a shared registry per test would pile
  up handlers pointing to stale servers. Here the vault is filled up-front instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Collection, Iterator
from typing import Any

import kopf
from kopf._cogs.structs.credentials import Vault  # not public in kopf 1.45.2 (pinned)
from kopf._cogs.structs.references import Insights  # idem

_KOPF_DIR = os.path.dirname(kopf.__file__) + os.sep


@contextlib.asynccontextmanager
async def run_operator(
    server: str | kopf.ConnectionInfo,
    *,
    registry: kopf.OperatorRegistry | None = None,
    settings: kopf.OperatorSettings | None = None,
    namespaces: Collection[str] = (),
    default_namespace: str = "default",
    timeout: float = 10.0,
    memo: object | None = None,
) -> AsyncIterator[asyncio.Task[None]]:
    """Run kopf against an API server until the block exits; yields the operator's task.

    The block starts once kopf has discovered the resources it serves, so it is watching
    them. Without ``settings``, resource scanning is disabled (the CRDs are known to exist);
    kopf serves all namespaces unless ``namespaces`` are given. Standalone: no peering.
    """
    if settings is None:
        settings = kopf.OperatorSettings()
        settings.scanning.disabled = True
    vault = Vault()
    connection = (
        server
        if isinstance(server, kopf.ConnectionInfo)
        else kopf.ConnectionInfo(server=server, default_namespace=default_namespace)
    )
    await vault.populate({"kube": connection})
    stop, insights = asyncio.Event(), Insights()
    tasks = await kopf.spawn_tasks(
        registry=registry,
        settings=settings,
        vault=vault,
        insights=insights,
        standalone=True,
        clusterwide=not namespaces,
        namespaces=namespaces,
        stop_flag=stop,
        memo=memo,
    )
    runner = asyncio.create_task(kopf.run_tasks(tasks, ignored=_ForeignTasks()), name="kopf operator")
    try:
        # Stopping kopf amid its start-up discovery leaves its retrying requests hung for 5 s.
        readiness = asyncio.create_task(_discovered(insights))
        done, _ = await asyncio.wait([readiness, runner], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        readiness.cancel()
        if runner in done:
            runner.result()  # re-raise why the operator failed to start
            raise RuntimeError("the operator exited before it was ready")
        if readiness not in done:
            raise TimeoutError(f"the operator was not ready within {timeout}s")
        yield runner
    finally:
        stop.set()
        async with asyncio.timeout(timeout):
            with contextlib.suppress(asyncio.CancelledError):
                await runner


async def _discovered(insights: Insights) -> None:
    await insights.ready_resources.wait()
    await insights.ready_namespaces.wait()


class _ForeignTasks(Collection[asyncio.Task[Any]]):
    """The tasks kopf must leave alone when it stops: all whose coroutine is not kopf's."""

    def __contains__(self, task: object) -> bool:
        code = getattr(task.get_coro(), "cr_code", None) if isinstance(task, asyncio.Task) else None
        return code is None or not code.co_filename.startswith(_KOPF_DIR)

    def __iter__(self) -> Iterator[asyncio.Task[Any]]:
        return iter(())

    def __len__(self) -> int:
        return 0
