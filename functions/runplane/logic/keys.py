"""API keys: minted, shown once, stored only as a hash, revocable, each bound to one cluster.

A secret is ``sk_`` + 43 URL-safe characters (256 bits from the OS's CSPRNG). It is stored only as
its SHA-256: a key of that much entropy needs no slow hash, and the hash is the item's key, so the
authorizer reads exactly one item per (uncached) request.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any, Protocol

from pydantic import ConfigDict, Field

from ..access import KEY_KINDS, Forbidden, KeyKind, Principal
from ..errors import InvalidRequest, NotFound
from ..ids import ulid
from ..model import Model
from ..timeutil import now_iso

SECRET_PREFIX = "sk_"
MIN_SECRET_LENGTH = 24  # operator-chosen secrets (RUNPLANE_ADMIN_KEY) must be at least this long


class ApiKey(Model):
    """A key as stored (the hash, never the secret) and as listed."""

    id: str
    cluster_id: str = Field(alias="clusterId")
    kind: KeyKind
    name: str
    created_at: str = Field(alias="createdAt")
    created_by: str = Field(alias="createdBy")
    revoked_at: str | None = Field(default=None, alias="revokedAt")
    model_config = ConfigDict(populate_by_name=True)

    def principal(self) -> Principal:
        return Principal(key_id=self.id, cluster_id=self.cluster_id, kind=self.kind)


class KeyStore(Protocol):
    def put_key(self, key: ApiKey, secret_hash: str) -> bool:
        """Store a new key under its hash; False if that hash exists already."""

    def key_by_hash(self, secret_hash: str) -> ApiKey | None: ...

    def list_keys(self, cluster_id: str) -> list[ApiKey]: ...

    def revoke_key(self, cluster_id: str, key_id: str, at: str) -> ApiKey | None:
        """Mark the key revoked (idempotent); None if the cluster has no such key."""


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def parse_authorization(value: str | None) -> str | None:
    """The secret in an ``authorization`` header: ``sk_…`` as the Inferable SDK sends it, or
    ``Bearer sk_…``. None when the header is absent or holds no such secret."""
    if not value:
        return None
    value = value.strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    if not value.startswith(SECRET_PREFIX) or len(value) > 256 or not value.isascii():
        return None
    return value


class KeyService:
    def __init__(self, store: KeyStore) -> None:
        self.store = store

    def create(
        self,
        cluster_id: str,
        *,
        name: str,
        kind: KeyKind = "cluster",
        created_by: str,
        creator: Principal | None = None,
        secret: str | None = None,
    ) -> tuple[ApiKey, str]:
        """Mint a key; returns it and its secret (the only time the secret is seen). ``creator``
        is the caller's key: only an admin key may mint admin keys. ``secret`` lets an operator
        choose the secret (local mode's RUNPLANE_ADMIN_KEY); creating it again is a no-op."""
        if kind not in KEY_KINDS:
            raise InvalidRequest(f"'kind' must be one of {', '.join(KEY_KINDS)}", field="kind")
        if creator is not None and kind == "admin" and creator.kind != "admin":
            raise Forbidden("only an admin key can create admin keys")
        if secret is not None and (
            not secret.startswith(SECRET_PREFIX) or len(secret) < MIN_SECRET_LENGTH or not secret.isascii()
        ):
            raise InvalidRequest(
                f"a chosen secret must start with '{SECRET_PREFIX}' and be at least {MIN_SECRET_LENGTH} "
                "ASCII characters",
                field="secret",
            )
        key = ApiKey(
            id=f"key_{ulid().lower()}",
            cluster_id=cluster_id,
            kind=kind,
            name=name,
            created_at=now_iso(),
            created_by=created_by,
        )
        chosen = secret or new_secret()
        if not self.store.put_key(key, hash_secret(chosen)):
            existing = self.store.key_by_hash(hash_secret(chosen))
            if secret is None or existing is None:  # a collision of 256-bit secrets: never in practice
                raise InvalidRequest("could not mint a key; try again")
            return existing, chosen
        return key, chosen

    def authenticate(self, authorization: str | None) -> Principal | None:
        """The principal of a live key, or None (absent, malformed, unknown or revoked)."""
        secret = parse_authorization(authorization)
        if secret is None:
            return None
        key = self.store.key_by_hash(hash_secret(secret))
        if key is None or key.revoked_at is not None:
            return None
        return key.principal()

    def list(self, cluster_id: str) -> list[ApiKey]:
        return sorted(self.store.list_keys(cluster_id), key=lambda k: k.created_at)

    def revoke(self, cluster_id: str, key_id: str) -> ApiKey:
        revoked = self.store.revoke_key(cluster_id, key_id, now_iso())
        if revoked is None:
            raise NotFound(f"key '{key_id}' not found in cluster '{cluster_id}'")
        return revoked


def key_view(key: ApiKey) -> dict[str, Any]:
    """listApiKeys' item (plus runplane's ``kind`` and ``clusterId``)."""
    return key.model_dump(mode="json", by_alias=True)
