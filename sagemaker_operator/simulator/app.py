"""The WSGI application: the simulator's SageMaker operations in front of moto's server app.

Every AWS request is identified, counted, checked against injected faults and then answered by a
registered handler (see :mod:`.protocol`) or passed to moto untouched. Paths under ``/_simulator/``
are control endpoints for tools that cannot reach the :class:`Simulator` object.
"""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from xml.sax.saxutils import escape

from werkzeug.wrappers import Request, Response

from .core import Simulator
from .errors import SageMakerError
from .protocol import PASS_TO_MOTO, RequestContext, RequestInfo, account_for, dump_json, parse_request

logger = logging.getLogger(__name__)

CONTROL_PREFIX = "/_simulator/"
JSON_CONTENT_TYPE = "application/x-amz-json-1.1"

StartResponse = Callable[..., Any]


class SimulatorApp:
    """WSGI app serving one :class:`Simulator`, with moto behind it for everything else."""

    def __init__(self, simulator: Simulator) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        self.simulator = simulator
        self.moto = DomainDispatcherApplication(create_backend_app)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith(CONTROL_PREFIX):
            return self._control(Request(environ))(environ, start_response)
        body = _buffer_body(environ)
        info = parse_request(environ, body, _rest_operation)
        sim = self.simulator
        sim.refresh()

        fault = sim.check_fault(info)
        if fault is not None:
            return self._answer(environ, start_response, info, _error_response(fault, info.json_target))
        if info.service == "sagemaker" and info.json_target and info.operation in sim.handlers:
            response = self._sagemaker(info, environ, body)
            if response is not None:
                return self._answer(environ, start_response, info, response)
        return self._forward(environ, start_response, info)

    # -- SageMaker operations the simulator owns --------------------------------------------------

    def _sagemaker(self, info: RequestInfo, environ: dict[str, Any], body: bytes | None) -> Response | None:
        """Run the handler; None means it passed the request on to moto."""
        context = RequestContext(account_for(info.access_key_id, environ), info.region, info.access_key_id)
        try:
            params = json.loads(body or b"{}")
            if not isinstance(params, dict):
                raise ValueError("the request body is not a JSON object")
        except ValueError as exc:
            return _error_response(SageMakerError("SerializationException", str(exc)), True)
        try:
            result = self.simulator.handle(info.operation, context, params)
        except SageMakerError as exc:
            return _error_response(exc, True)
        except Exception:  # a bug in a handler must look like AWS's 500, which clients retry
            logger.exception("SageMaker simulator failed on %s", info.operation)
            return _error_response(SageMakerError("InternalFailure", "Internal error in the simulator.", 500), True)
        if result is PASS_TO_MOTO:
            return None
        return Response(dump_json(result), 200, {"Content-Type": JSON_CONTENT_TYPE, **_request_id()})

    def _answer(
        self, environ: dict[str, Any], start_response: StartResponse, info: RequestInfo, response: Response
    ) -> Iterable[bytes]:
        error_code = None
        if response.status_code >= 400:
            error_code = _error_code(response.headers.get("x-amzn-ErrorType"), response.get_data())
        self.simulator.record(info, response.status_code, error_code)
        return response(environ, start_response)

    # -- everything else: moto --------------------------------------------------------------------

    def _forward(self, environ: dict[str, Any], start_response: StartResponse, info: RequestInfo) -> Iterable[bytes]:
        """Pass the request to moto, recording its status (and error code, which needs the body)."""
        captured: dict[str, Any] = {}
        written: list[bytes] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            captured.update(status=status, headers=headers, exc_info=exc_info)
            return written.append

        try:
            result = self.moto(environ, capture)
        except Exception as exc:  # moto's Flask app runs in debug mode and lets its errors escape
            return self._answer(environ, start_response, info, _moto_failure(info, exc))
        status_code = int(captured["status"].split()[0])
        if status_code < 400 and not written:
            self.simulator.record(info, status_code, None)
            start_response(captured["status"], captured["headers"])
            return result
        try:
            payload = b"".join([*written, *result])
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        header_type = next((v for k, v in captured["headers"] if k.lower() == "x-amzn-errortype"), None)
        error_code = _error_code(header_type, payload) if status_code >= 400 else None
        self.simulator.record(info, status_code, error_code)
        start_response(captured["status"], captured["headers"])
        return [payload]

    # -- control endpoints ------------------------------------------------------------------------

    def _control(self, request: Request) -> Response:
        sim = self.simulator
        path = request.path[len(CONTROL_PREFIX) :].strip("/")
        try:
            document = request.get_json(force=True, silent=True) or {}
            if path == "calls" and request.method == "GET":
                return _json(dict(sim.calls))
            if path == "calls" and request.method == "DELETE":
                sim.reset_calls()
                return _json({})
            if path == "clock" and request.method == "GET":
                return _json({"now": sim.clock.now().isoformat()})
            if path == "clock/advance" and request.method == "POST":
                now = sim.clock.advance(float(document["seconds"]))
                sim.refresh()
                return _json({"now": now.isoformat()})
            if path == "faults" and request.method == "POST":
                sim.faults.inject(
                    str(document["operation"]),
                    str(document["error"]),
                    rate=document.get("rate"),
                    times=document.get("times"),
                    seed=document.get("seed"),
                    message=document.get("message"),
                    status=document.get("status"),
                )
                return _json({"faults": len(sim.faults.active)})
            if path == "faults" and request.method == "DELETE":
                sim.faults.clear()
                return _json({"faults": 0})
        except (KeyError, TypeError, ValueError) as exc:
            return _json({"error": f"bad request: {exc!r}"}, 400)
        return _json({"error": f"no control endpoint {request.method} {request.path}"}, 404)


def _moto_failure(info: RequestInfo, exc: Exception) -> Response:
    """An AWS-shaped error for an exception moto raised instead of answering.

    Operations moto lacks (e.g. StopCompilationJob) answer 501, which botocore does not retry.
    """
    if isinstance(exc, NotImplementedError):
        from moto import __version__ as moto_version

        message = (
            f"The SageMaker simulator does not implement {info.service}.{info.operation} "
            f"(it passes operations it does not own to moto {moto_version}, which lacks it)."
        )
        return _error_response(SageMakerError("NotImplemented", message, 501), info.json_target)
    logger.exception("moto failed on %s.%s", info.service, info.operation)
    message = f"moto failed on {info.service}.{info.operation}: {exc!r}"
    return _error_response(SageMakerError("InternalFailure", message, 500), info.json_target)


def _json(document: Any, status: int = 200) -> Response:
    return Response(json.dumps(document), status, {"Content-Type": "application/json"})


def _request_id() -> dict[str, str]:
    return {"x-amzn-RequestId": str(uuid.uuid4())}


def _error_response(error: SageMakerError, json_protocol: bool) -> Response:
    """An AWS error response: JSON for JSON-protocol services, the query/REST XML shape otherwise."""
    if json_protocol:
        body = dump_json({"__type": error.code, "message": error.message})
        return Response(body, error.status, {"Content-Type": JSON_CONTENT_TYPE, **_request_id()})
    request_id = str(uuid.uuid4())
    xml = (
        "<ErrorResponse><Error><Type>Sender</Type>"
        f"<Code>{escape(error.code)}</Code><Message>{escape(error.message)}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return Response(xml, error.status, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id})


_XML_CODE = re.compile(rb"<Code>([^<]+)</Code>")


def _error_code(header: str | None, body: bytes) -> str | None:
    """The AWS error code of an error response, however the protocol spells it."""
    code = header
    if not code:
        try:
            document = json.loads(body)
            code = document.get("__type") or document.get("code") if isinstance(document, dict) else None
        except ValueError:
            match = _XML_CODE.search(body)
            code = match.group(1).decode() if match else None
    if code:
        code = code.split(":", 1)[0].rsplit("#", 1)[-1]
    return code or None


def _buffer_body(environ: dict[str, Any]) -> bytes | None:
    """Read the body of requests that name their operation inside it (JSON and query protocols).

    The body is put back for moto. Other requests (S3 uploads) stream through unread.
    """
    content_type = environ.get("CONTENT_TYPE", "")
    if not (environ.get("HTTP_X_AMZ_TARGET") or content_type.startswith("application/x-www-form-urlencoded")):
        return None
    from werkzeug.wsgi import get_input_stream

    body = get_input_stream(environ).read()
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("wsgi.input_terminated", None)
    return body


def _rest_operation(service: str, environ: dict[str, Any]) -> str | None:
    """For REST protocols (S3), the operation name from moto's router; None if it cannot tell."""
    try:
        from moto.core.request import Request as MotoRequest
        from moto.core.routing import get_service_router

        probe = dict(environ)
        probe["wsgi.input"] = io.BytesIO(b"")
        probe["CONTENT_LENGTH"] = "0"
        operation, _ = get_service_router(service).match(MotoRequest(probe))
        return str(operation.name)
    except Exception:  # moto's router is internal API; counting falls back to the HTTP method
        return None
