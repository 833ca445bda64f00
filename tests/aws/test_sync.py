"""Status sync strategies against the simulator: calls grow with changes, and no transition is lost."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sagemaker_operator.aws.clients import ClientFactory
from sagemaker_operator.aws.sync import BatchedSync, Budgets, JobRef, PerJobPolling, RateLimiter
from sagemaker_operator.simulator import SimClock, Simulator, SimulatorServer, StageDurations
from tests.simulator.conftest import training_request

REGION = "us-west-2"
FAST = Budgets(rate=1000.0)  # the tests count calls; the default budget would only make them wait


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)


class FakeTime:
    """A monotonic clock the test moves (the sync's List interval runs on it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def world(aws_env: None) -> Iterator[tuple[Simulator, str]]:
    # The simulated SageMaker runs a day behind the operator's wall clock: the sync must not care.
    start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    sim = Simulator(
        clock=SimClock(speed=0, start=start),
        durations=StageDurations(starting=60, downloading=60, training=600, uploading=60),
    )
    with SimulatorServer(sim) as server:
        yield sim, server.url


def refs(names: list[str], url: str) -> list[JobRef]:
    return [JobRef("DescribeTrainingJob", "TrainingJobName", name, REGION, url) for name in names]


def create_jobs(url: str, names: list[str], **overrides: Any) -> None:
    client = ClientFactory(REGION, url).sagemaker()
    for name in names:
        client.create_training_job(**training_request(name, **overrides))


def sagemaker_calls(sim: Simulator) -> dict[str, int]:
    return {op.split(".", 1)[1]: n for op, n in sim.calls.items() if op.startswith("sagemaker.")}


async def observe_all(sync: Any, jobs: list[JobRef]) -> dict[str, dict[str, Any] | None]:
    return {ref.name: await sync.observe(ref) for ref in jobs}


async def test_batched_sync_calls_grow_with_changes_not_with_jobs(world: tuple[Simulator, str]) -> None:
    sim, url = world
    names = [f"job-{i:03d}" for i in range(150)]  # more than one List page
    create_jobs(url, names)
    clock = FakeTime()
    sync = BatchedSync(ClientFactory(REGION, url), interval=30, clock=clock, budgets=FAST, background=False)
    jobs = refs(names, url)
    sim.reset_calls()

    await observe_all(sync, jobs)
    assert sagemaker_calls(sim) == {"DescribeTrainingJob": 150}, "each job is described once, when first seen"

    for _ in range(5):  # five intervals in which nothing changes
        clock.now += 30
        sim.reset_calls()
        await sync.list_now()
        await observe_all(sync, jobs)
        assert sagemaker_calls(sim).get("DescribeTrainingJob", 0) == 0
        assert sagemaker_calls(sim).get("ListTrainingJobs", 0) <= 2, "one List (a page or two) per interval"

    sim.clock.advance(61)  # every job moves from Starting to Downloading
    clock.now += 30
    sim.reset_calls()
    await sync.list_now()
    seen = await observe_all(sync, jobs)
    assert all(d and d["SecondaryStatus"] == "Downloading" for d in seen.values())
    calls = sagemaker_calls(sim)
    assert calls["DescribeTrainingJob"] == 150 and calls["ListTrainingJobs"] == 2, calls


async def test_per_job_polling_describes_every_job_every_time(world: tuple[Simulator, str]) -> None:
    sim, url = world
    names = [f"poll-{i}" for i in range(20)]
    create_jobs(url, names)
    sync = PerJobPolling(ClientFactory(REGION, url), FAST)
    sim.reset_calls()
    for _ in range(3):
        await observe_all(sync, refs(names, url))
    assert sagemaker_calls(sim) == {"DescribeTrainingJob": 60}


async def test_no_transition_is_missed_across_stages_and_a_restart(world: tuple[Simulator, str]) -> None:
    sim, url = world
    create_jobs(url, ["steps"])
    (job,) = refs(["steps"], url)
    clock = FakeTime()
    sync = BatchedSync(ClientFactory(REGION, url), interval=30, clock=clock, budgets=FAST, background=False)
    seen = []
    for step, advance in enumerate([61, 61, 601, 61, 0]):
        if step == 3:  # the operator restarts: a new sync with an empty cache
            sync = BatchedSync(ClientFactory(REGION, url), interval=30, clock=clock, budgets=FAST, background=False)
        described = await sync.observe(job)
        assert described is not None
        truth = ClientFactory(REGION, url).sagemaker().describe_training_job(TrainingJobName="steps")
        assert (described["TrainingJobStatus"], described["SecondaryStatus"]) == (
            truth["TrainingJobStatus"],
            truth["SecondaryStatus"],
        )
        seen.append(described["SecondaryStatus"])
        sim.clock.advance(advance)
        clock.now += 30
        await sync.list_now()
    assert seen == ["Starting", "Downloading", "Training", "Uploading", "Completed"]


class ThrottleSecondPage(ClientFactory):
    """Clients whose ListTrainingJobs fails with throttling on the next page asked for (NextToken), once."""

    armed = False

    def sagemaker(self, region: str | None = None, endpoint: str | None = None) -> Any:
        client = super().sagemaker(region, endpoint)
        factory = self

        class Wrapper:
            def __getattr__(self, name: str) -> Any:
                return getattr(client, name)

            def list_training_jobs(self, **kwargs: Any) -> Any:
                if factory.armed and "NextToken" in kwargs:
                    factory.armed = False
                    error = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}
                    raise ClientError(error, "ListTrainingJobs")
                return client.list_training_jobs(**kwargs)

        return Wrapper()


async def test_a_throttled_list_page_loses_no_transition(world: tuple[Simulator, str]) -> None:
    sim, url = world
    names = [f"page-{i:03d}" for i in range(150)]
    create_jobs(url, names)
    clients = ThrottleSecondPage(REGION, url)
    clock = FakeTime()
    sync = BatchedSync(clients, interval=30, clock=clock, budgets=FAST, background=False)
    jobs = refs(names, url)
    await observe_all(sync, jobs)

    sim.clock.advance(61)  # all change; their summaries span two pages
    clients.armed = True
    clock.now += 30
    await sync.list_now()  # the second page is throttled in this round
    assert not clients.armed
    clock.now += 30
    await sync.list_now()  # the next round lists the same window again
    seen = await observe_all(sync, jobs)
    assert all(d and d["SecondaryStatus"] == "Downloading" for d in seen.values())


async def test_invalidate_makes_the_next_look_ask_sagemaker(world: tuple[Simulator, str]) -> None:
    _, url = world
    create_jobs(url, ["stop-me"])
    (job,) = refs(["stop-me"], url)
    sync = BatchedSync(ClientFactory(REGION, url), interval=3600, clock=FakeTime(), budgets=FAST, background=False)
    assert (await sync.observe(job))["TrainingJobStatus"] == "InProgress"  # type: ignore[index]
    ClientFactory(REGION, url).sagemaker().stop_training_job(TrainingJobName="stop-me")
    assert (await sync.observe(job))["TrainingJobStatus"] == "InProgress", "cached until told"  # type: ignore[index]
    sync.invalidate(job)
    assert (await sync.observe(job))["TrainingJobStatus"] == "Stopping"  # type: ignore[index]


async def test_an_unknown_job_is_none_and_found_once_it_exists(world: tuple[Simulator, str]) -> None:
    _, url = world
    (job,) = refs(["later"], url)
    clock = FakeTime()
    sync = BatchedSync(ClientFactory(REGION, url), interval=30, clock=clock, budgets=FAST, background=False)
    assert await sync.observe(job) is None
    create_jobs(url, ["later"])
    clock.now += 30
    await sync.list_now()
    assert (await sync.observe(job))["TrainingJobName"] == "later"  # type: ignore[index]


async def test_per_job_polling_looks_at_a_new_or_changed_job_at_once_then_an_interval_later(
    world: tuple[Simulator, str],
) -> None:
    sim, url = world
    create_jobs(url, ["fresh"])
    (job,) = refs(["fresh"], url)
    sync = PerJobPolling(ClientFactory(REGION, url), FAST, clock=FakeTime())

    await asyncio.wait_for(sync.wait_for_change(job, timeout=60), timeout=5)  # never looked at: look now
    await sync.observe(job)
    waiting = asyncio.create_task(sync.wait_for_change(job, timeout=0.3))
    await asyncio.sleep(0.1)
    assert not waiting.done(), "looked at just now: the next look is a poll interval later"
    await asyncio.wait_for(waiting, timeout=5)

    sync.invalidate(job)  # the operator changed it (e.g. stopped it): look again at once
    await asyncio.wait_for(sync.wait_for_change(job, timeout=60), timeout=5)
    assert sagemaker_calls(sim) == {"CreateTrainingJob": 1, "DescribeTrainingJob": 1}


class FakeLoop:
    """Time for the rate limiter: sleeping moves it, so waits are measured, not waited."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_rate_limiter_spaces_calls_to_the_budget() -> None:
    loop = FakeLoop()
    limiter = RateLimiter(5.0, burst=1, clock=loop.clock, sleep=loop.sleep)
    for _ in range(11):
        await limiter.acquire()
    assert loop.now == pytest.approx(2.0), "10 calls after the first take 2 s at 5 per second"


async def test_a_throttled_region_slows_down_as_a_whole_and_recovers() -> None:
    loop = FakeLoop()
    limiter = RateLimiter(10.0, burst=1, clock=loop.clock, sleep=loop.sleep)
    await limiter.acquire()
    limiter.throttled()
    limiter.throttled()
    assert limiter.rate == pytest.approx(2.5)
    before = loop.now
    await limiter.acquire()
    assert loop.now - before >= 0.2, "after throttling, the next call of the region waits"
    for _ in range(200):
        limiter.succeeded()
    assert limiter.rate == pytest.approx(10.0), "the budget comes back, up to its limit"


async def test_throttling_answers_reach_the_regions_limiter(world: tuple[Simulator, str]) -> None:
    sim, url = world
    create_jobs(url, ["busy"])
    budgets = Budgets(rate=10.0)
    sync = PerJobPolling(ClientFactory(REGION, url, max_attempts=1), budgets)
    sim.faults.inject("DescribeTrainingJob", error="ThrottlingException", times=1)
    with pytest.raises(Exception, match="ThrottlingException"):
        await sync.observe(refs(["busy"], url)[0])
    assert budgets(REGION, url).rate == pytest.approx(5.0)
    await asyncio.sleep(0)


async def test_a_waiting_resource_wakes_as_soon_as_a_list_round_sees_its_job_change(
    world: tuple[Simulator, str],
) -> None:
    sim, url = world
    create_jobs(url, ["waiter", "other"])
    job, other = refs(["waiter", "other"], url)
    sync = BatchedSync(ClientFactory(REGION, url), interval=30, clock=FakeTime(), budgets=FAST, background=False)
    await sync.observe(job)
    await sync.observe(other)
    waiting = asyncio.create_task(sync.wait_for_change(job, timeout=60))
    await sync.list_now()  # nothing changed yet
    await asyncio.sleep(0.05)
    assert not waiting.done(), "no news, no wake-up"
    sim.clock.advance(61)
    await sync.list_now()
    await asyncio.wait_for(waiting, timeout=5)
    assert (await sync.observe(job))["SecondaryStatus"] == "Downloading"  # type: ignore[index]


async def quiet_rounds(sim: Simulator, sync: BatchedSync, clock: FakeTime, waiter: JobRef, rounds: int) -> None:
    """List rounds, 30 s apart, while only ``waiter``'s resource waits for news (and none comes); calls reset."""
    waiting = asyncio.create_task(sync.wait_for_change(waiter, timeout=3600))
    await asyncio.sleep(0)
    sim.reset_calls()
    for _ in range(rounds):
        clock.now += 30
        await sync.list_now()
    assert not waiting.done(), "no news, no wake-up"
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)


async def test_a_followed_job_is_kept_however_rarely_its_resource_asks_until_the_resource_lets_go(
    world: tuple[Simulator, str],
) -> None:
    """A busy operator's timers can come round many intervals late; forgetting a job they still follow costs a
    Describe each time (at 1,000 jobs in the benchmark: 5 times the Describes). Jobs leave when their resource
    says so (it is being deleted); with none left, the Lists stop."""
    sim, url = world
    create_jobs(url, ["slow", "waiting"])
    slow, waiting_job = refs(["slow", "waiting"], url)
    clock = FakeTime()
    sync = BatchedSync(ClientFactory(REGION, url), interval=30, clock=clock, budgets=FAST, background=False)
    await observe_all(sync, [slow, waiting_job])
    await quiet_rounds(sim, sync, clock, waiting_job, rounds=40)  # 20 minutes without an ask from either
    await observe_all(sync, [slow, waiting_job])
    assert sagemaker_calls(sim).get("DescribeTrainingJob", 0) == 0, "still followed: the Lists speak for them"

    sync.forget(slow)
    await sync.observe(slow)
    assert sagemaker_calls(sim).get("DescribeTrainingJob", 0) == 1, "let go of, so described anew"
    sync.forget(slow)
    sync.forget(waiting_job)
    lists = sagemaker_calls(sim)["ListTrainingJobs"]
    clock.now += 30
    await sync.list_now()
    assert sagemaker_calls(sim)["ListTrainingJobs"] == lists, "nobody follows a job: no List"


async def test_a_job_in_its_final_state_costs_nothing_however_often_its_resource_asks(
    world: tuple[Simulator, str],
) -> None:
    """The operator's view of a resource can lag its own status patch by seconds, so the resource may ask about
    a job again after seeing it complete. That must not cost a Describe each time, nor keep the Lists going."""
    sim, url = world
    create_jobs(url, ["done"])
    (done,) = refs(["done"], url)
    clock = FakeTime()
    sync = BatchedSync(ClientFactory(REGION, url), interval=30, clock=clock, budgets=FAST, background=False)
    await sync.observe(done)
    sim.clock.advance(3600)
    clock.now += 30
    await sync.list_now()
    assert (await sync.observe(done))["TrainingJobStatus"] == "Completed"  # type: ignore[index]
    sim.reset_calls()
    for _ in range(5):
        clock.now += 30
        await sync.list_now()
        assert (await sync.observe(done))["TrainingJobStatus"] == "Completed"  # type: ignore[index]
    assert sagemaker_calls(sim) == {}


async def test_a_job_nobody_asks_about_for_long_is_dropped(world: tuple[Simulator, str]) -> None:
    """The guard for a resource that vanished without its deletion handler (finalizer removed by hand)."""
    sim, url = world
    create_jobs(url, ["followed", "abandoned"])
    followed, abandoned = refs(["followed", "abandoned"], url)
    clock = FakeTime()
    sync = BatchedSync(
        ClientFactory(REGION, url), interval=30, forget_after=60, clock=clock, budgets=FAST, background=False
    )
    await observe_all(sync, [followed, abandoned])
    await quiet_rounds(sim, sync, clock, followed, rounds=5)  # 150 s without an ask from either
    await sync.observe(followed)
    assert sagemaker_calls(sim).get("DescribeTrainingJob", 0) == 0, "its resource waits for news: kept"
    await sync.observe(abandoned)
    assert sagemaker_calls(sim).get("DescribeTrainingJob", 0) == 1, "dropped, so described anew"
