"""The HTTP API of the template, served locally.

Routes, authorizers and CORS come from the template's ``HttpApi`` events and
``AWS::Serverless::HttpApi`` resources. A request is matched as API Gateway
matches it (exact path, then path variables, then greedy ones; a method
before ``ANY``), authorized like the JWT authorizer (see ``local.tokens``),
turned into a payload-2.0 event and answered with what the function returns.
Unknown route: 404; refused token: 401; a function that fails: 500; each in
the contract's error envelope with API Gateway's ``message`` beside it.
Each request is logged (``local.httpd``) with its path, where a path
variable named like a token (``{token}``) shows as its name, not its value.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from local.events import http_event, http_response
from local.httpd import Request, Response, json_error, loggable_path
from local.runtime import ConfigurationError, LocalFunction
from local.template import Stack
from local.tokens import JwtRules, Unauthorized, bearer_token, http_api_definitions, rules_from_authorizer, verify

log = logging.getLogger("local.http_api")

_ANY_METHODS = {"ANY", "X-AMAZON-APIGATEWAY-ANY-METHOD"}
_SECRET_NAMES = ("token", "secret", "key")


@dataclass(frozen=True)
class Cors:
    allow_origins: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False

    def origin_allowed(self, origin: str) -> str | None:
        if "*" in self.allow_origins:
            return origin if self.allow_credentials else "*"
        return origin if origin in self.allow_origins else None


@dataclass(frozen=True)
class Api:
    logical_id: str
    stage: str = "$default"
    authorizers: Mapping[str, JwtRules] = field(default_factory=dict)
    default_authorizer: str | None = None
    cors: Cors | None = None


@dataclass(frozen=True)
class Route:
    api: Api
    method: str
    path: str  # as in the template, or "$default"
    function: str
    authorizer: str | None
    scopes: tuple[str, ...] = ()

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"

    @property
    def _segments(self) -> list[str]:
        return [s for s in self.path.split("/") if s]

    def priority(self) -> tuple[int, int, int, int]:
        segments = self._segments
        greedy = int(bool(segments) and segments[-1].endswith("+}"))
        variables = sum(1 for s in segments if s.startswith("{"))
        return (int(self.path == "$default"), greedy, variables, int(self.method == "ANY"))

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.method not in ("ANY", method):
            return None
        if self.path == "$default":
            return {}
        wanted = self._segments
        given = [s for s in path.split("/") if s] if path != "/" else []
        if path.endswith("/") and path != "/" and not self.path.endswith("/"):
            return None
        params: dict[str, str] = {}
        for i, segment in enumerate(wanted):
            if segment.startswith("{") and segment.endswith("+}"):
                rest = given[i:]
                if not rest:
                    return None
                params[segment[1:-2]] = unquote("/".join(rest))
                return params
            if i >= len(given):
                return None
            if segment.startswith("{") and segment.endswith("}"):
                params[segment[1:-1]] = unquote(given[i])
            elif segment != given[i]:
                return None
        return params if len(given) == len(wanted) else None

    def logged_path(self, path: str) -> str:
        """``path`` (which this route matched) as the log shows it: a path
        variable whose name says it is a token or a secret shows as its name."""
        if self.path == "$default":
            return loggable_path(path)
        given = [s for s in path.split("/") if s]
        shown: list[str] = []
        for i, segment in enumerate(self._segments):
            hidden = segment.startswith("{") and any(word in segment.lower() for word in _SECRET_NAMES)
            if segment.endswith("+}"):
                shown += [segment] if hidden else given[i:]
                break
            shown.append(segment if hidden else given[i])
        return loggable_path("/" + "/".join(shown))


def _tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(str(v) for v in value)


def _cors(stack: Stack, config: Any) -> Cors | None:
    if config in (None, False):
        return None
    if config is True:
        return Cors(allow_origins=("*",), allow_methods=("*",), allow_headers=("*",))
    resolved = stack.resolve(config)
    max_age = resolved.get("MaxAge")
    return Cors(
        allow_origins=_tuple(resolved.get("AllowOrigins")),
        allow_methods=_tuple(resolved.get("AllowMethods")),
        allow_headers=_tuple(resolved.get("AllowHeaders")),
        expose_headers=_tuple(resolved.get("ExposeHeaders")),
        max_age=int(max_age) if max_age is not None else None,
        allow_credentials=str(resolved.get("AllowCredentials", False)).lower() == "true",
    )


def apis(stack: Stack) -> dict[str, Api]:
    found: dict[str, Api] = {}
    for logical, props in http_api_definitions(stack).items():
        auth = props.get("Auth") or {}
        authorizers: dict[str, JwtRules] = {}
        for name, authorizer in (auth.get("Authorizers") or {}).items():
            if "JwtConfiguration" not in authorizer:
                raise ConfigurationError(
                    f"{logical}: authorizer {name} is not a JWT authorizer; only those run locally"
                )
            authorizers[name] = rules_from_authorizer(stack, authorizer)
        default = auth.get("DefaultAuthorizer")
        found[logical] = Api(
            logical_id=logical,
            stage=str(stack.resolve(props.get("StageName", "$default"))),
            authorizers=authorizers,
            default_authorizer=str(default) if default else None,
            cors=_cors(stack, props.get("CorsConfiguration")),
        )
    return found


def routes(stack: Stack) -> list[Route]:
    """Every ``HttpApi`` event of every function, most specific first."""
    known = apis(stack)
    found: list[Route] = []
    for function, resource in stack.functions().items():
        for name, event in (resource.get("Properties", {}).get("Events") or {}).items():
            if event.get("Type") != "HttpApi":
                continue
            props = event.get("Properties") or {}
            api_ref = props.get("ApiId")
            api_name = api_ref.get("Ref") if isinstance(api_ref, dict) else "ServerlessHttpApi"
            api = known.get(str(api_name))
            if api is None:
                raise ConfigurationError(f"{function}.{name}: ApiId {api_ref!r} is not an HttpApi of the template")
            auth = props.get("Auth") or {}
            authorizer = auth.get("Authorizer", api.default_authorizer)
            if authorizer == "NONE":
                authorizer = None
            if authorizer is not None and authorizer not in api.authorizers:
                raise ConfigurationError(f"{function}.{name}: authorizer {authorizer} is not defined on {api_name}")
            method = str(stack.resolve(props.get("Method", "ANY"))).upper()
            path = str(stack.resolve(props.get("Path", "$default")))
            found.append(
                Route(
                    api=api,
                    method="ANY" if method in _ANY_METHODS else method,
                    path=path,
                    function=function,
                    authorizer=authorizer,
                    scopes=_tuple(stack.resolve(auth.get("AuthorizationScopes"))),
                )
            )
    return sorted(found, key=Route.priority)


class HttpApi:
    def __init__(self, stack: Stack, functions: Mapping[str, LocalFunction], *, secret: str) -> None:
        self._stack = stack
        self._functions = functions
        self._secret = secret
        self.routes = routes(stack)
        for route in self.routes:
            if route.function not in functions:
                raise ConfigurationError(f"route {route.route_key}: no function {route.function}")

    def __call__(self, request: Request) -> Response:
        split = urlsplit(request.target)
        path = split.path or "/"
        request_id = uuid.uuid4().hex[:16]
        method = request.method.upper()

        api = self._api_for(path)
        if api is not None and api.stage != "$default":
            path = path[len(api.stage) + 1 :] or "/"

        origin = request.header("Origin")
        if (
            method == "OPTIONS"
            and origin
            and request.header("Access-Control-Request-Method")
            and api is not None
            and api.cors is not None
        ):
            return self._preflight(api.cors, origin, request_id)

        matched = self._match(method, path, api)
        if matched is None:
            detail = f"no route matches {method} {path}"
            return self._finish(json_error(404, "not_found", detail), api, request)
        route, params = matched

        claims: dict[str, Any] | None = None
        granted: tuple[str, ...] = ()
        if route.authorizer is not None:
            rules = route.api.authorizers[route.authorizer]
            try:
                claims = verify(bearer_token(self._identity(request, rules)), secret=self._secret, rules=rules)
            except Unauthorized as exc:
                response = json_error(401, "unauthorized", str(exc))
                reason = str(exc).replace('"', "'")
                response.headers.append(
                    ("www-authenticate", f'Bearer error="invalid_token" error_description="{reason}"')
                )
                return self._finish(response, route.api, request, route.logged_path(path))
            granted = _tuple(str(claims.get("scope", "")).replace(" ", ","))
            if route.scopes and not set(route.scopes) & set(granted):
                response = json_error(403, "forbidden", "the token lacks the route's scope")
                return self._finish(response, route.api, request, route.logged_path(path))

        event = http_event(
            method=method,
            raw_path=split.path or "/",
            route_key=route.route_key,
            path_parameters=params or None,
            raw_query_string=split.query,
            headers=request.headers,
            body=request.body,
            claims=claims,
            scopes=granted or None,
            stage=route.api.stage,
            source_ip=request.client_ip,
            account=self._stack.account,
        )
        event["requestContext"]["requestId"] = request_id
        result = self._functions[route.function].invoke(event)
        if result.failed:
            response = json_error(500, "internal_error", "the function failed; the stack's log has its error")
        else:
            try:
                status, headers, body = http_response(result.payload)
                response = Response(status, body, headers)
            except (TypeError, ValueError, KeyError) as exc:
                log.error("%s returned a response API Gateway cannot use: %s", route.function, exc)
                response = json_error(502, "internal_error", "the function returned a response API Gateway cannot use")
        response.headers.append(("apigw-requestid", request_id))
        return self._finish(response, route.api, request, route.logged_path(path))

    # ----------------------------------------------------------- helpers
    def _match(self, method: str, path: str, api: Api | None) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            if route.api is not api:
                continue
            params = route.match(method, path)
            if params is not None:
                return route, params
        return None

    def _api_for(self, path: str) -> Api | None:
        """The API a path belongs to (the local stack serves every API on one
        port): by its stage prefix, else by a route, else the first one."""
        for route in self.routes:
            stage = route.api.stage
            if stage != "$default" and (path == f"/{stage}" or path.startswith(f"/{stage}/")):
                return route.api
        for route in self.routes:
            if route.api.stage == "$default" and route.match(route.method, path) is not None:
                return route.api
        return next((r.api for r in self.routes if r.api.stage == "$default"), None)

    @staticmethod
    def _identity(request: Request, rules: JwtRules) -> str | None:
        source = rules.identity_source
        match = re.match(r"^\$request\.header\.(.+)$", source)
        return request.header(match.group(1) if match else "Authorization")

    @staticmethod
    def _preflight(cors: Cors, origin: str, request_id: str) -> Response:
        headers: list[tuple[str, str]] = [("apigw-requestid", request_id)]
        allowed = cors.origin_allowed(origin)
        if allowed:
            headers.append(("access-control-allow-origin", allowed))
            if cors.allow_methods:
                headers.append(("access-control-allow-methods", ",".join(cors.allow_methods)))
            if cors.allow_headers:
                headers.append(("access-control-allow-headers", ",".join(cors.allow_headers)))
            if cors.max_age is not None:
                headers.append(("access-control-max-age", str(cors.max_age)))
            if cors.allow_credentials:
                headers.append(("access-control-allow-credentials", "true"))
        return Response(204, b"", headers)

    @staticmethod
    def _finish(response: Response, api: Api | None, request: Request, logged_path: str | None = None) -> Response:
        """With CORS configured, API Gateway sets the CORS headers itself and
        drops the ones the function returned."""
        response.logged_path = logged_path
        origin = request.header("Origin")
        if api is None or api.cors is None:
            return response
        response.headers = [(k, v) for k, v in response.headers if not k.lower().startswith("access-control-")]
        allowed = api.cors.origin_allowed(origin) if origin else None
        if allowed:
            response.headers.append(("access-control-allow-origin", allowed))
            if api.cors.expose_headers:
                response.headers.append(("access-control-expose-headers", ",".join(api.cors.expose_headers)))
            if api.cors.allow_credentials:
                response.headers.append(("access-control-allow-credentials", "true"))
        return response

    def describe(self) -> Sequence[str]:
        return [f"{r.route_key} -> {r.function}" for r in self.routes]
