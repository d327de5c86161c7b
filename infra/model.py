"""Access to the model: Amazon Bedrock (IAM), the Anthropic API (a key in Secrets Manager), or the
offline scripted model (nothing). Only the agent-step function calls the model."""

from __future__ import annotations

from typing import Literal, cast, get_args

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

ModelProvider = Literal["anthropic", "bedrock", "scripted"]
PROVIDERS: tuple[str, ...] = get_args(ModelProvider)

BEDROCK_ACTIONS = ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream")


def resolve_provider(provider: str | None, anthropic_secret_name: str | None) -> ModelProvider:
    """The provider to deploy with: as given, else ``anthropic`` when a secret name is given, else
    ``bedrock`` (needs nothing but IAM, so a bare ``cdk deploy`` works)."""
    chosen = provider or ("anthropic" if anthropic_secret_name else "bedrock")
    if chosen not in PROVIDERS:
        raise ValueError(f"modelProvider must be one of {', '.join(PROVIDERS)}; got {chosen!r}")
    if chosen == "anthropic" and not anthropic_secret_name:
        raise ValueError(
            "modelProvider 'anthropic' needs anthropicSecretName: the name of an existing Secrets Manager "
            "secret holding the Anthropic API key (see docs/deploy.md)"
        )
    return cast(ModelProvider, chosen)


class ModelAccess(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        provider: ModelProvider,
        anthropic_secret_name: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.provider = provider
        self.secret: secretsmanager.ISecret | None = None
        if provider == "anthropic":
            if not anthropic_secret_name:
                raise ValueError("the anthropic provider needs anthropic_secret_name")
            self.secret = secretsmanager.Secret.from_secret_name_v2(self, "AnthropicKey", anthropic_secret_name)

    @property
    def environment(self) -> dict[str, str]:
        """Settings for the function that calls the model."""
        if self.secret is None:
            return {}
        # A partial ARN (no random suffix): GetSecretValue accepts it; the grant covers "<name>-??????".
        return {"RUNPLANE_ANTHROPIC_SECRET_ARN": self.secret.secret_arn}

    def grant_invoke(self, grantee: iam.IGrantable) -> None:
        if self.provider == "bedrock":
            iam.Grant.add_to_principal(
                grantee=grantee,
                actions=list(BEDROCK_ACTIONS),
                resource_arns=[
                    # Cross-region inference profiles (us.*, eu.*, global.*) route to models in other
                    # regions: the foundation-model ARN needs a region wildcard.
                    f"arn:{Aws.PARTITION}:bedrock:*::foundation-model/anthropic.*",
                    f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}:{Aws.ACCOUNT_ID}:inference-profile/*.anthropic.*",
                ],
            )
        elif self.secret is not None:
            self.secret.grant_read(grantee)
