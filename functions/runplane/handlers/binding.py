"""The API's request binding: path and query parameters and the JSON body, validated with pydantic.

A route declares what it takes in its signature, as it would for Powertools' ``enable_validation``::

    @app.get("/clusters/<clusterId>/runs")
    def list_runs(clusterId: Annotated[str, Path(pattern=...)], limit: Annotated[int, Query(ge=1)] = 50): ...

    @app.post("/clusters/<clusterId>/runs")
    def create_run(clusterId: ClusterId, body: CreateRunRequest): ...

:class:`Resolver` wraps every route it registers (its own and those of included routers) in a
:class:`Bound`. At a route's first request, the Bound builds one pydantic model of the route's
parameters (path and query parameters by name, the parameter called ``body`` from the JSON body);
each request is then one ``model_validate``. A request that does not fit raises :class:`BadInput`,
whose errors name the field (``limit``, ``initialPrompt``, ``input.city``) and the problem; the API
answers it with a 400.

Why not Powertools' ``enable_validation``: the same checks, but its OpenAPI machinery (``params``,
``compat``, the validation middlewares) is imported by every cold start, about a quarter of a bare
``import boto3``, and it builds a pydantic field per parameter. Here nothing is built before a
route's first request. The OpenAPI document (``/docs``) is still Powertools': it is generated from
each Bound's ``__signature__``, where the markers below become Powertools' own ``Path``/``Query``,
with the same constraints (imported only when the document is built).
"""

from __future__ import annotations

import functools
import inspect
import json
import threading
import typing
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from pydantic import BaseModel, Field, ValidationError, create_model

BODY = "body"  # the parameter a route takes its JSON body in


class Param:
    """A path or query parameter's marker, with pydantic ``Field`` constraints (pattern, ge, ...)."""

    __slots__ = ("constraints", "where")

    def __init__(self, where: Literal["path", "query"], constraints: dict[str, Any]) -> None:
        self.where = where
        self.constraints = constraints

    def __repr__(self) -> str:
        return f"{self.where.title()}({', '.join(f'{k}={v!r}' for k, v in self.constraints.items())})"


def Path(**constraints: Any) -> Any:
    return Param("path", constraints)


def Query(**constraints: Any) -> Any:
    return Param("query", constraints)


class BadInput(Exception):
    """The request does not fit the route: ``errors`` are ``{"field", "problem"}``, in order."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__(errors[0]["problem"] if errors else "invalid request")
        self.errors = errors


def _field(loc: tuple[Any, ...]) -> str:
    path = [str(p) for p in loc]
    if path and path[0] == BODY:
        path = path[1:]
    return ".".join(path) or BODY


def _errors(exc: ValidationError) -> list[dict[str, str]]:
    return [{"field": _field(tuple(e.get("loc", ()))), "problem": str(e.get("msg", "invalid"))} for e in exc.errors()]


class _Plan:
    """What one route takes: its parameters' pydantic model, and which of them come from the query."""

    def __init__(self, func: Any) -> None:
        hints = typing.get_type_hints(func, include_extras=True)
        fields: dict[str, Any] = {}
        self.query: list[str] = []
        self.takes_body = False
        for name, param in inspect.signature(func).parameters.items():
            annotation = hints.get(name, Any)
            default = ... if param.default is inspect.Parameter.empty else param.default
            marker = _marker(annotation)
            if marker is not None:
                base = typing.get_args(annotation)[0]
                fields[name] = (base, Field(default, **marker.constraints))
                if marker.where == "query":
                    self.query.append(name)
            elif name == BODY:
                fields[name] = (annotation, default)
                self.takes_body = True
            else:  # a path parameter without constraints
                fields[name] = (annotation, default)
        self.names = list(fields)
        self.model: type[BaseModel] = create_model(f"{func.__name__}_request", **fields)  # type: ignore[call-overload]


def _marker(annotation: Any) -> Param | None:
    if typing.get_origin(annotation) is Annotated:
        return next((m for m in annotation.__metadata__ if isinstance(m, Param)), None)
    return None


class Bound:
    """A route function with its request binding; called by the resolver with the path parameters."""

    def __init__(self, resolver: APIGatewayRestResolver, func: Any) -> None:
        functools.update_wrapper(self, func)
        self._resolver = resolver
        self._func = func
        self._plan: _Plan | None = None
        self._lock = threading.Lock()

    def plan(self) -> _Plan:
        if self._plan is None:
            with self._lock:
                if self._plan is None:
                    self._plan = _Plan(self._func)
        return self._plan

    def __call__(self, **path: str) -> Any:
        plan = self.plan()
        event = self._resolver.current_event
        data: dict[str, Any] = dict(path)
        query = event.query_string_parameters or {}
        for name in plan.query:
            if name in query:
                data[name] = query[name]
        if plan.takes_body:
            text = event.decoded_body
            if text:  # a body that is there is JSON: handlers.inbound checked it before routing
                data[BODY] = json.loads(text)
        try:
            request = plan.model.model_validate(data)
        except ValidationError as exc:
            raise BadInput(_errors(exc)) from None
        return self._func(**{name: getattr(request, name) for name in plan.names})

    @property
    def __signature__(self) -> inspect.Signature:
        """The signature Powertools' OpenAPI document reads: each marker as Powertools' own Path or
        Query with the same constraints (the document is the only user of these)."""
        from aws_lambda_powertools.event_handler.openapi import params

        hints = typing.get_type_hints(self._func, include_extras=True)
        signature = inspect.signature(self._func)
        parameters = []
        for name, param in signature.parameters.items():
            annotation = hints.get(name, param.annotation)
            marker = _marker(annotation)
            if marker is not None:
                kind = params.Path if marker.where == "path" else params.Query
                annotation = Annotated[typing.get_args(annotation)[0], kind(**marker.constraints)]  # type: ignore[valid-type]
            parameters.append(param.replace(annotation=annotation))
        return signature.replace(
            parameters=parameters, return_annotation=hints.get("return", signature.return_annotation)
        )


def _jsonable(value: Any) -> Any:
    """What ``json`` cannot write, as Powertools' validation path wrote it (its ``jsonable_encoder``):
    a Decimal as an int or a float (not a string), a set as a list, a model as its JSON dump."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value.as_tuple().exponent >= 0 else float(value)  # type: ignore[operator]
    if isinstance(value, set | frozenset):
        return list(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def serialize(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"), default=_jsonable)


class Resolver(APIGatewayRestResolver):
    """Powertools' REST resolver, with each route's request bound and validated by :class:`Bound`."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("serializer", serialize)
        super().__init__(**kwargs)

    def route(self, rule: str, method: Any, *args: Any, **kwargs: Any) -> Any:
        register = super().route(rule, method, *args, **kwargs)

        def bind(func: Any) -> Any:
            register(func if isinstance(func, Bound) else Bound(self, func))
            return func

        return bind
