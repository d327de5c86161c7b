"""Domain errors. The API layer maps them to HTTP status codes; the logic never sees HTTP."""

from __future__ import annotations


class RunplaneError(Exception):
    """Base class of errors a caller can act on."""


class NotFound(RunplaneError):
    pass


class Conflict(RunplaneError):
    pass


class InvalidRequest(RunplaneError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ConcurrentUpdate(RunplaneError):
    """A conditional write lost a race; the caller re-reads and decides again."""


class SlotsFull(RunplaneError):
    """A concurrency cap is reached: the run waits (``counter`` names the full one)."""

    def __init__(self, counter: str) -> None:
        super().__init__(f"the concurrency cap '{counter}' is reached")
        self.counter = counter


class RateLimited(RunplaneError):
    """A key over its request rate (HTTP 429); ``retry_after`` in whole seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooLarge(InvalidRequest):
    """A request over a size limit (HTTP 413)."""


class NotClaimant(RunplaneError):
    """A worker acting on a job that another worker claimed (HTTP 403)."""
