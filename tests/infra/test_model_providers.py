"""Model provider options: the Anthropic API (a Secrets Manager secret) instead of Bedrock."""

from __future__ import annotations

from typing import Any, get_args

import pytest

from runplane import resources
from tests.infra.helpers import (
    actions_of,
    function_env,
    render,
    resources_for,
    role_of_function,
    role_statements,
    synth,
)

SECRET = "runplane/anthropic-api-key"
STEP = resources.FUNCTIONS["agent_step"].handler


@pytest.fixture(scope="module")
def tpl() -> dict[str, Any]:
    # A secret name alone selects the anthropic provider.
    return synth(anthropicSecretName=SECRET, bedrockModelIds='{"claude-sonnet-5-5": "eu.anthropic.x-v1:0"}')[1]


def test_anthropic_provider_reads_the_secret_from_the_agent_step_only(tpl: dict[str, Any]) -> None:
    assert tpl["Outputs"]["ModelProvider"]["Value"] == "anthropic"
    for spec in resources.FUNCTIONS.values():
        env = function_env(tpl, spec.handler)
        assert env["RUNPLANE_MODEL_PROVIDER"] == "anthropic"
        assert env["RUNPLANE_BEDROCK_MODEL_IDS"] == '{"claude-sonnet-5-5":"eu.anthropic.x-v1:0"}'
        statements = role_statements(tpl, role_of_function(tpl, spec.handler))
        assert not {a for a in actions_of(statements) if a.startswith("bedrock:")}
        if spec.handler != STEP:
            assert "RUNPLANE_ANTHROPIC_SECRET_ARN" not in env
            assert not {a for a in actions_of(statements) if a.startswith("secretsmanager:")}
    secret_arn = render(function_env(tpl, STEP)["RUNPLANE_ANTHROPIC_SECRET_ARN"])
    assert secret_arn.endswith(f":secret:{SECRET}")
    statements = role_statements(tpl, role_of_function(tpl, STEP))
    granted = {render(r) for r in resources_for(statements, "secretsmanager:GetSecretValue")}
    assert granted == {f"{secret_arn}-??????"}


def test_provider_defaults_and_validation() -> None:
    from infra.model import PROVIDERS, resolve_provider
    from runplane.config import ModelProvider

    assert set(PROVIDERS) == set(get_args(ModelProvider))
    assert resolve_provider(None, None) == "bedrock"
    assert resolve_provider(None, "name") == "anthropic"
    assert resolve_provider("bedrock", "name") == "bedrock"
    assert resolve_provider("scripted", None) == "scripted"
    with pytest.raises(ValueError, match="anthropicSecretName"):
        resolve_provider("anthropic", None)
    with pytest.raises(ValueError, match="modelProvider"):
        resolve_provider("gpt", None)


def test_bad_options_fail_synth() -> None:
    with pytest.raises(Exception, match="anthropicSecretName"):
        synth(modelProvider="anthropic")
    with pytest.raises(Exception, match="bedrockModelIds"):
        synth(bedrockModelIds="[1, 2]")
