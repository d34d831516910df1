"""The MCP endpoint: the SDK's low-level server over Streamable HTTP, stateless and answering JSON,
mounted at ``/mcp`` in the service's own app, behind the same edge (request id, rate limit,
access, deadline, metrics, log).

Low-level rather than ``MCPServer``: its tools take our msgspec structs, whose JSON Schema is the
HTTP API's, and their arguments are checked by the HTTP body check, so both name the same fields
with the same messages. A refused or failed call is a tool error (``isError``) whose content is
the problem body the HTTP API would send; an unknown tool is a protocol error, as the spec says.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import mcp_types as types
import msgspec
from litestar import asgi
from litestar.handlers import ASGIRouteHandler
from litestar.types import Receive, Scope, Send
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError

from app.http.access import MCP_PATH, scope_refusal
from app.http.body_checks import document_errors
from app.http.runtime import Runtime
from app.lib import problems
from app.lib.errors import DomainError, InternalError, ValidationFailed, count_field_errors, problem_of
from app.lib.metrics import MCP_TOOL_CALLS, MCP_TOOL_DURATION, register_field_names
from app.lib.problems import problem_body, send_problem
from app.lib.request_context import ACCESS_TOKEN_KEY, add_log_fields
from app.lib.validation import schema_field_names
from app.mcp.tools import TOOLS, Call, ToolSpec

logger = logging.getLogger(__name__)

# Without tokens the service listens on loopback only; a web page that rebinds its own host name
# to 127.0.0.1 must still not reach the tools, so then only loopback Host and Origin headers pass.
LOOPBACK_ONLY = TransportSecuritySettings(
    allowed_hosts=["127.0.0.1", "127.0.0.1:*", "localhost", "localhost:*", "[::1]", "[::1]:*"],
    allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
)


@functools.cache
def input_schema(arguments: type[msgspec.Struct]) -> dict[str, Any]:
    """The struct's JSON Schema (``msgspec.json.schema``, as the OpenAPI document has it), with the
    struct itself at the root: MCP wants ``type: object`` there, not a ``$ref``."""
    schema = msgspec.json.schema(arguments)
    definitions = dict(schema["$defs"])
    root = definitions.pop(arguments.__name__)
    register_field_names(schema_field_names(arguments))  # label text of its validation metrics
    return {**root, "$defs": definitions} if definitions else root


def _tool(spec: ToolSpec) -> types.Tool:
    annotations = types.ToolAnnotations(read_only_hint=spec.needs == "read", destructive_hint=False)
    return types.Tool(
        name=spec.name, description=spec.description, input_schema=input_schema(spec.arguments), annotations=annotations
    )


def _result(payload: Any) -> types.CallToolResult:
    document = msgspec.to_builtins(payload)
    text = msgspec.json.encode(document).decode()
    return types.CallToolResult(content=[types.TextContent(text=text)], structured_content=document)


def _problem_result(base_url: str, error: DomainError) -> types.CallToolResult:
    body = msgspec.to_builtins(problem_body(base_url, error.problem, error.detail, MCP_PATH, error.field_errors))
    text = msgspec.json.encode(body).decode()
    return types.CallToolResult(content=[types.TextContent(text=text)], structured_content=body, is_error=True)


class McpEndpoint:
    """The MCP server of one app; ``running(runtime)`` is entered by the app's lifespan."""

    def __init__(self, *, access_control: bool, max_body_bytes: int, problem_base_url: str) -> None:
        self.security = None if access_control else LOOPBACK_ONLY
        self.max_body_bytes = max_body_bytes
        self.problem_base_url = problem_base_url
        self.tools = [_tool(spec) for spec in TOOLS.values()]
        self._manager: StreamableHTTPSessionManager | None = None

    @contextlib.asynccontextmanager
    async def running(self, runtime: Runtime) -> AsyncIterator[None]:
        @contextlib.asynccontextmanager
        async def lifespan(_: Server[Runtime]) -> AsyncIterator[Runtime]:
            yield runtime

        server: Server[Runtime] = Server(
            "workflow-search",
            version="1.0.0",
            instructions="Find remediation workflows for an incident, explain their ranking, look up past "
            "remediations, and record how a remediation went.",
            lifespan=lifespan,
            get_tool_input_schema=lambda name: input_schema(TOOLS[name].arguments) if name in TOOLS else None,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
        )
        # A manager runs once; one per lifespan, so an app that is started again gets a fresh one.
        manager = StreamableHTTPSessionManager(
            server,
            json_response=True,
            stateless=True,
            security_settings=self.security,
            max_request_body_size=self.max_body_bytes,
        )
        async with manager.run():
            self._manager = manager
            try:
                yield
            finally:
                self._manager = None

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._manager is None:
            raise RuntimeError("the MCP endpoint is not running (outside the app's lifespan)")
        # A declared size over the limit is refused here, as a problem like the API's 413; the
        # SDK's own check (the same limit) is left for a body sent without its length.
        declared = next((value for name, value in scope.get("headers", ()) if name == b"content-length"), b"0")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            detail = f"the request body is larger than {self.max_body_bytes} bytes"
            body = problem_body(self.problem_base_url, problems.REQUEST_TOO_LARGE, detail, MCP_PATH)
            await send_problem(send, body)
            return
        await self._manager.handle_request(scope, receive, send)  # type: ignore[arg-type]

    async def _list_tools(
        self, _: ServerRequestContext[Runtime], __: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=self.tools)

    async def _call_tool(
        self, ctx: ServerRequestContext[Runtime], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        spec = TOOLS.get(params.name)
        if spec is None:
            MCP_TOOL_CALLS.labels("unknown", "unknown-tool").inc()
            raise MCPError(code=types.INVALID_PARAMS, message=f"unknown tool: {params.name!r}")
        scope: dict[str, Any] = ctx.request.scope if ctx.request is not None else {}
        add_log_fields(scope, mcp_tool=spec.name)
        token = scope.get("state", {}).get(ACCESS_TOKEN_KEY)
        started = time.perf_counter()
        try:
            result = _result(await self._run(spec, Call(ctx.lifespan_context, token), params.arguments or {}))
            outcome = "ok"
        except Exception as error:
            problem = DeadlinePassed() if isinstance(error, TimeoutError) else problem_of(error)
            if isinstance(problem, InternalError):  # its detail says nothing: the log says what
                logger.exception("tool %s failed", spec.name)
            count_field_errors(problem.field_errors)
            result, outcome = _problem_result(self.problem_base_url, problem), problem.problem.slug
        MCP_TOOL_CALLS.labels(spec.name, outcome).inc()
        MCP_TOOL_DURATION.labels(spec.name).observe(time.perf_counter() - started)
        return result

    async def _run(self, spec: ToolSpec, call: Call, arguments: Mapping[str, Any]) -> Any:
        if call.token is not None and (refusal := scope_refusal(call.token, spec.needs)):
            raise Forbidden(refusal[1])
        if errors := document_errors(dict(arguments), spec.arguments, call.runtime.settings):
            raise ValidationFailed(errors)
        # No deadline of its own: past the edge's, the request ends and the call is cancelled with
        # it, on both protocol eras (tests/integration/mcp/test_mcp_deadlines.py).
        return await spec.run(call, msgspec.convert(arguments, spec.arguments))


class Forbidden(DomainError):
    problem = problems.FORBIDDEN


class DeadlinePassed(DomainError):
    problem = problems.REQUEST_TIMEOUT

    def __init__(self) -> None:
        super().__init__("the tool call did not complete within the request's deadline")


def mount(endpoint: McpEndpoint) -> ASGIRouteHandler:
    """The Litestar route that hands ``/mcp`` to the endpoint (not in the OpenAPI document)."""

    # The edge's own scope (not a copy): its metrics and log line take the route from it.
    @asgi(MCP_PATH, is_mount=True, copy_scope=False, include_in_schema=False)
    async def mcp(scope: Scope, receive: Receive, send: Send) -> None:
        scope["path_template"] = MCP_PATH
        await endpoint.handle(scope, receive, send)

    return mcp


__all__ = ["McpEndpoint", "input_schema", "mount"]
