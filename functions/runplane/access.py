"""Who may do what: API keys' kinds, the capabilities routes need, and the one check every route makes.

Authentication (is this a live key?) happens in front of the API function: API Gateway's Lambda
authorizer on AWS, the very same authorizer code in local mode's gateway. It hands the API function
a *principal* in ``requestContext.authorizer``: the key's id, its cluster and its kind. Authorization
(may this key do this, here?) is :func:`require`, called first thing by every route.

=========  ==========================================================================
kind       may
=========  ==========================================================================
cluster    everything in its own cluster (the default kind; what ``createApiKey`` makes)
consumer   runs only: create, read, list, messages, approvals, cancel
machine    register functions and services, poll calls and answer them; no runs
admin      clusters, and the keys of every cluster
=========  ==========================================================================

Answers: no principal → 401; a key of another cluster → 404, exactly as for a thing that does not
exist (a non-admin key never learns that another cluster exists); the wrong kind → 403.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import ValidationError

from . import resources
from .errors import NotFound, RateLimited, RunplaneError
from .model import Model

KeyKind = Literal["cluster", "consumer", "machine", "admin"]
KEY_KINDS: tuple[KeyKind, ...] = ("cluster", "consumer", "machine", "admin")

# What a route needs. Every route names exactly one.
Capability = Literal["runs", "machine", "cluster", "keys", "admin"]
ALLOWED: dict[Capability, frozenset[KeyKind]] = {
    # runs: create, read, list, messages, approvals, cancel, feedback, delete
    "runs": frozenset({"cluster", "consumer"}),
    # functions and services: register, poll calls, answer them, heartbeats, blobs
    "machine": frozenset({"cluster", "machine"}),
    # the rest of a cluster's own things (read the cluster, list machines/services, run configs)
    "cluster": frozenset({"cluster"}),
    # a cluster's keys: that cluster's `cluster` key, or an admin key
    "keys": frozenset({"cluster", "admin"}),
    # clusters themselves: create, list
    "admin": frozenset({"admin"}),
}
# Kinds that are not bound to the cluster in the path (they reach every cluster for their capability).
CROSS_CLUSTER: frozenset[KeyKind] = frozenset({"admin"})


class Unauthorized(RunplaneError):
    """No key, or a key that is unknown or revoked (HTTP 401)."""


class Forbidden(RunplaneError):
    """A live key of the wrong kind for the route (HTTP 403)."""


class Principal(Model):
    """The key behind a request, as the authorizer hands it over (never the secret itself)."""

    key_id: str
    cluster_id: str
    kind: KeyKind

    def context(self) -> dict[str, str]:
        """The authorizer's context (API Gateway passes string values only)."""
        return {"keyId": self.key_id, "clusterId": self.cluster_id, "kind": self.kind}


def principal_of(event: dict[str, Any]) -> Principal | None:
    """The principal the authorizer attached to an API Gateway proxy event, if any."""
    ctx = (event.get("requestContext") or {}).get("authorizer") or {}
    try:
        return Principal(key_id=ctx["keyId"], cluster_id=ctx["clusterId"], kind=ctx["kind"])
    except (KeyError, TypeError, ValidationError):
        return None


_CLUSTER_PATH = re.compile(r"^/clusters/([^/]+)")


def gate(event: dict[str, Any]) -> Principal | None:
    """The checks every request passes before routing (and before body validation): a principal
    must be present (401), and a non-admin key's requests for ``/clusters/{id}/…`` must name its own
    cluster (404). Routes then check capabilities with :func:`require`. Health checks pass as they
    are (None)."""
    method, path = str(event.get("httpMethod") or ""), str(event.get("path") or "")
    if resources.is_public_route(method, path):
        return None
    principal = principal_of(event)
    if principal is None:
        raise Unauthorized("a valid API key is required (header 'authorization: sk_…')")
    match = _CLUSTER_PATH.match(path)
    if match and principal.kind not in CROSS_CLUSTER and match.group(1) != principal.cluster_id:
        raise NotFound(f"cluster '{match.group(1)}' not found")
    return principal


def require(principal: Principal | None, cluster_id: str | None, capability: Capability) -> Principal:
    """Raise unless ``principal`` may use ``capability`` on ``cluster_id`` (None: routes with no
    cluster in the path, e.g. ``POST /machines``, which act on the key's own cluster)."""
    if principal is None:
        raise Unauthorized("a valid API key is required (header 'authorization: sk_…')")
    if cluster_id is not None and principal.kind not in CROSS_CLUSTER and principal.cluster_id != cluster_id:
        raise NotFound(f"cluster '{cluster_id}' not found")
    if principal.kind not in ALLOWED[capability]:
        needed = ", ".join(sorted(ALLOWED[capability]))
        raise Forbidden(f"a '{principal.kind}' key cannot do this (it needs a key of kind: {needed})")
    return principal


def check(event: dict[str, Any], cluster_id: str | None, capability: Capability) -> Principal:
    """:func:`require` for the principal the authorizer attached to ``event`` (a route's first line)."""
    return require(principal_of(event), cluster_id, capability)


def too_many_requests(exc: RateLimited) -> tuple[dict[str, str], dict[str, Any]]:
    """The headers and body of the 429 for a key over its rate limit (logic/ratelimit.py)."""
    problem = f"over this key's rate limit; retry after {exc.retry_after} s"
    return (
        {"Content-Type": "application/json", "retry-after": str(exc.retry_after)},
        {"message": str(exc), "errors": [{"field": "authorization", "problem": problem}]},
    )
