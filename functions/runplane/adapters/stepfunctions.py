"""Step Functions implementation of ``Executions``: one Standard execution per run, named by the run id."""

from __future__ import annotations

import json

from botocore.exceptions import ClientError

from ..config import Settings
from ..schemas import Run
from .clients import client


def execution_input(run: Run) -> str:
    return json.dumps({"runId": run.id, "clusterId": run.cluster_id}, separators=(",", ":"))


class StepFunctionsExecutions:
    def __init__(self, settings: Settings) -> None:
        self.state_machine_arn = settings.state_machine_arn

    def start(self, run: Run) -> None:
        try:
            client("stepfunctions").start_execution(
                stateMachineArn=self.state_machine_arn, name=run.id, input=execution_input(run)
            )
        except ClientError as exc:
            # The execution name is the run id: a second start for the same run is refused, which is
            # exactly the idempotency we want (a retried create, or the stream's safety-net start).
            if exc.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                raise
