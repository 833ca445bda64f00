"""Where the plugin reads logs (region, endpoints), what --since means, and how hosts are named."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kubectl_plugin.cloudwatch import LogSource, StreamInfo
from kubectl_plugin.errors import SmlogsError
from kubectl_plugin.kinds import View
from kubectl_plugin.resolve import AwsOverrides, aws_target
from kubectl_plugin.smlogs import parse_since

SIMULATOR = "http://127.0.0.1:4566"
VPC_ENDPOINT = "https://vpce-0a1b-xyz.api.sagemaker.us-west-2.vpce.amazonaws.com"


def view(endpoint: str | None = None, region: str | None = "eu-west-1") -> View:
    return View("job", "InProgress", region, endpoint)


def test_logs_follow_a_simulator_endpoint_but_not_an_aws_one() -> None:
    assert aws_target(view(SIMULATOR), AwsOverrides()).logs_endpoint == SIMULATOR
    vpc = aws_target(view(VPC_ENDPOINT), AwsOverrides())
    assert (vpc.sagemaker_endpoint, vpc.logs_endpoint) == (VPC_ENDPOINT, None), "CloudWatch Logs: AWS's own"
    plain = aws_target(view(None), AwsOverrides())
    assert (plain.region, plain.sagemaker_endpoint, plain.logs_endpoint) == ("eu-west-1", None, None)


def test_flags_and_environment_win_over_the_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    both = aws_target(view(VPC_ENDPOINT), AwsOverrides(region="us-east-2", endpoint_url=SIMULATOR))
    assert (both.region, both.sagemaker_endpoint, both.logs_endpoint) == ("us-east-2", SIMULATOR, SIMULATOR)
    logs_only = aws_target(view(SIMULATOR), AwsOverrides(logs_endpoint_url="http://logs.local:1"))
    assert (logs_only.sagemaker_endpoint, logs_only.logs_endpoint) == (SIMULATOR, "http://logs.local:1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_LOGS", "http://from-env:2")
    assert aws_target(view(SIMULATOR), AwsOverrides()).logs_endpoint is None, "left to botocore, which reads it"


NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10m", datetime(2024, 5, 1, 11, 50, tzinfo=UTC)),
        ("1h30m", datetime(2024, 5, 1, 10, 30, tzinfo=UTC)),
        ("2d", datetime(2024, 4, 29, 12, 0, tzinfo=UTC)),
        ("2024-05-01T09:15:00Z", datetime(2024, 5, 1, 9, 15, tzinfo=UTC)),
        ("2024-05-01T11:15:00+02:00", datetime(2024, 5, 1, 9, 15, tzinfo=UTC)),
        ("2024-05-01T09:15:00", datetime(2024, 5, 1, 9, 15, tzinfo=UTC)),
    ],
)
def test_since(text: str, expected: datetime) -> None:
    assert parse_since(text, NOW) == int(expected.timestamp() * 1000)


@pytest.mark.parametrize("text", ["10 minutes", "m10", "yesterday", "10x"])
def test_since_rejects_what_it_cannot_read(text: str) -> None:
    with pytest.raises(SmlogsError, match="expected a duration"):
        parse_since(text, NOW)


def test_hosts_are_named_without_sagemakers_epoch() -> None:
    training = LogSource("/aws/sagemaker/TrainingJobs", "job/")
    assert StreamInfo(training, "job/algo-12-1714567890").label == "algo-12"
    transform = LogSource("/aws/sagemaker/TransformJobs", "score/")
    assert StreamInfo(transform, "score/i-0abc-1714567890/data-log").label == "i-0abc/data-log"
    child = LogSource("/aws/sagemaker/TrainingJobs", "tune-001-ab/", job="tune-001-ab")
    stream = StreamInfo(child, "tune-001-ab/algo-2-1714567890")
    assert stream.label == "tune-001-ab/algo-2"
    assert stream.matches_host("algo-2") and stream.matches_host("tune-001") and stream.matches_host("tune-001-ab")
    assert not stream.matches_host("algo-20") and not stream.matches_host("tune-00")
