"""Step Functions implementation of ``Executions``: one Standard execution per run, named by the run id."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from ..config import Settings
from ..schemas import Run
from .clients import client


def execution_input(run: Run) -> str:
    return json.dumps({"runId": run.id, "clusterId": run.cluster_id}, separators=(",", ":"))


_GONE = {"TaskTimedOut", "TaskDoesNotExist", "InvalidToken", "ExecutionDoesNotExist"}


class StepFunctionsExecutions:
    def __init__(self, settings: Settings) -> None:
        self.state_machine_arn = settings.state_machine_arn

    def execution_arn(self, run: Run) -> str:
        return f"{self.state_machine_arn.replace(':stateMachine:', ':execution:')}:{run.execution_name}"

    def start(self, run: Run) -> None:
        try:
            client("stepfunctions").start_execution(
                stateMachineArn=self.state_machine_arn, name=run.execution_name, input=execution_input(run)
            )
        except ClientError as exc:
            # The execution name is the run id: a second start for the same run is refused, which is
            # exactly the idempotency we want (a retried create, or the stream's safety-net start).
            if exc.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                raise

    def stop(self, run: Run, cause: str) -> None:
        try:
            client("stepfunctions").stop_execution(executionArn=self.execution_arn(run), cause=cause[:32_000])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in _GONE:
                raise

    def send_task_success(self, token: str, output: dict[str, Any]) -> bool:
        try:
            client("stepfunctions").send_task_success(taskToken=token, output=json.dumps(output))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _GONE:
                return False
            raise

    def send_task_heartbeat(self, token: str) -> bool:
        try:
            client("stepfunctions").send_task_heartbeat(taskToken=token)
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _GONE:
                return False
            raise
