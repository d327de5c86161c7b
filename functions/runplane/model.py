"""runplane's pydantic base model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    """The base of runplane's models: each is built (its validator and serializer) at its first use, a
    validation, a dump or its JSON Schema, not when its class is defined. A handler's import defines
    some sixty models and a request uses a few (docs/deploy.md#cold-start). pydantic builds a deferred
    model under a lock (``pydantic.main._rebuild_lock``), so first uses in many threads at once, as in
    local mode, are safe."""

    model_config = ConfigDict(defer_build=True)
