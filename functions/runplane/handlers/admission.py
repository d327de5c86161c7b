"""The admission sweep: admits runs waiting for a concurrency slot (``logic.admission``).

Waiting runs are admitted as soon as a slot frees (the outbox sees the run that gave it back); this
function runs on a schedule (``resources.ADMISSION_SWEEP_MINUTES``) so that a trigger that was lost
(a failed outbox dispatch, a process that died after freeing a slot) only delays a run.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from . import initialized, wiring

logger = Logger(service="runplane-admission")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    admitted = len(wiring.admission().dispatch())
    if admitted:
        logger.info("admitted waiting runs", admitted=admitted)
    return {"admitted": admitted}


initialized()  # the last statement: the cold start's imports are done (handlers/__init__.py)
