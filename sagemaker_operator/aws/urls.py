"""Region-correct AWS URLs shown to users in status (console links, endpoints)."""

from __future__ import annotations

from urllib.parse import quote


def console_domain(region: str) -> str:
    if region.startswith("cn-"):
        return "console.amazonaws.cn"
    if region.startswith("us-gov-"):
        return "console.amazonaws-us-gov.com"
    return "console.aws.amazon.com"


def cloudwatch_log_url(region: str, log_group: str, stream_prefix: str) -> str:
    """The CloudWatch console page with a job's log streams, as the Go operator linked it."""
    return (
        f"https://{region}.{console_domain(region)}/cloudwatch/home?region={region}"
        f"#logStream:group={quote(log_group, safe='/')};prefix={quote(stream_prefix)};"
        "streamFilter=typeLogStreamPrefix"
    )


def endpoint_invocation_url(region: str, endpoint_name: str) -> str:
    """Where clients send InvokeEndpoint requests for this endpoint."""
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://runtime.sagemaker.{region}.{domain}/endpoints/{endpoint_name}/invocations"
