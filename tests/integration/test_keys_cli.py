"""`runplane keys create`: how an operator gets the first admin key of a deployed stack, with AWS
credentials and no key (here the emulator stands in for the account: CloudFormation, DynamoDB)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runplane import cli


def test_keys_create_writes_a_working_key_into_the_stacks_table(
    harness: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    table = harness.emulator.names.table
    cfn = harness.emulator.client("cloudformation")
    cfn.create_stack(
        StackName="runplane-test",
        TemplateBody=json.dumps(
            {
                "Resources": {"Marker": {"Type": "AWS::SQS::Queue"}},
                "Outputs": {"TableName": {"Value": table}},
            }
        ),
    )
    assert cli.main(["keys", "create", "--stack", "runplane-test", "--kind", "admin", "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["kind"] == "admin" and made["clusterId"] == "default" and made["key"].startswith("sk_")
    # The key works at once, and an admin key reaches the keys of every cluster.
    other = harness.cluster()
    status, listed = harness.api("GET", f"/clusters/{other}/api-keys", key=made["key"])
    assert status == 200 and isinstance(listed, list)
    status, _ = harness.api("GET", f"/clusters/{other}/runs", key=made["key"])
    assert status == 403  # admin keys manage clusters and keys, they do not run agents

    assert cli.main(["keys", "create", "--table", table, "--cluster", other, "--kind", "consumer"]) == 0
    secret = capsys.readouterr().out.strip().splitlines()[-1]
    assert harness.api("POST", f"/clusters/{other}/runs", {"initialPrompt": "hi"}, key=secret)[0] == 201


def test_keys_create_names_a_stack_without_the_output(harness: Any) -> None:
    cfn = harness.emulator.client("cloudformation")
    cfn.create_stack(
        StackName="not-runplane", TemplateBody=json.dumps({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}})
    )
    with pytest.raises(SystemExit, match="no output 'TableName'"):
        cli.main(["keys", "create", "--stack", "not-runplane"])
