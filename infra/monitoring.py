"""Monitoring: alarms (to an SNS topic, with an optional email subscription) and a dashboard.

Alarms: the failed-run rate, executions failed and timed out, the API's 5xx rate and p90 latency,
each dead-letter queue's depth above zero, model throttles, and every function's errors and
throttles. The handlers' metrics (``runplane.metrics``: runs, model latency and tokens, throttles,
tool calls and errors, approval waits, notifications and webhooks) and these are on the dashboard.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Aws, CfnOutput, Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from runplane import metrics as names

PERIOD = Duration.minutes(5)
FAILED_RUN_RATE = 0.2  # of finished runs, over 15 minutes
API_5XX_RATE = 0.05
API_P90_LATENCY_MS = 10_000


def _metric(name: str, statistic: str = "Sum") -> cw.Metric:
    return cw.Metric(
        namespace=names.NAMESPACE, metric_name=name, dimensions_map=names.DIMENSIONS, statistic=statistic, period=PERIOD
    )


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Mapping[str, lambda_.IFunction],
        state_machine: sfn.StateMachine,
        rest_api: apigw.RestApi,
        dead_letter_queues: Mapping[str, sqs.IQueue],
        alarm_email: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "AlarmTopic", display_name="runplane alarms", enforce_ssl=True)
        if alarm_email:
            self.topic.add_subscription(subs.EmailSubscription(alarm_email))
        action = cw_actions.SnsAction(self.topic)
        self.alarms: dict[str, cw.Alarm] = {}

        def alarm(key: str, metric: cw.IMetric, threshold: float, description: str, periods: int = 1) -> None:
            made = cw.Alarm(
                self,
                f"{key}Alarm",
                metric=metric,
                threshold=threshold,
                evaluation_periods=periods,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description=description,
            )
            made.add_alarm_action(action)
            self.alarms[key] = made

        done, failed = _metric(names.RUNS_DONE), _metric(names.RUNS_FAILED)
        failed_rate = cw.MathExpression(
            expression="IF(done + failed > 0, failed / (done + failed), 0)",
            using_metrics={"done": done, "failed": failed},
            period=Duration.minutes(15),
            label="failed runs / finished runs",
        )
        alarm("FailedRunRate", failed_rate, FAILED_RUN_RATE, "More than 20% of the runs that finished failed")
        alarm("ExecutionsFailed", state_machine.metric_failed(period=PERIOD), 0, "Agent-loop executions failed")
        alarm("ExecutionsTimedOut", state_machine.metric_timed_out(period=PERIOD), 0, "Agent-loop executions timed out")
        api_5xx = cw.MathExpression(
            expression="IF(requests > 0, errors / requests, 0)",
            using_metrics={
                "errors": rest_api.metric_server_error(period=PERIOD),
                "requests": rest_api.metric_count(period=PERIOD),
            },
            period=PERIOD,
            label="API 5xx / requests",
        )
        alarm("Api5xxRate", api_5xx, API_5XX_RATE, "More than 5% of API requests answered 5xx")
        alarm(
            "ApiLatencyP90",
            rest_api.metric_latency(period=PERIOD, statistic="p90"),
            API_P90_LATENCY_MS,
            "API p90 latency above 10 s",
            periods=3,
        )
        alarm("ModelThrottles", _metric(names.MODEL_THROTTLES), 0, "The model provider throttled runplane")
        for key, queue in dead_letter_queues.items():
            alarm(
                f"{key}DeadLetters",
                queue.metric_approximate_number_of_messages_visible(period=Duration.minutes(1), statistic="Maximum"),
                0,
                f"{key}: messages in the dead-letter queue (see docs/deploy.md, 'Dead-letter queues')",
            )
        for key, fn in functions.items():
            alarm(f"{key}Errors", fn.metric_errors(period=PERIOD), 0, f"{key} function errors")
            alarm(f"{key}Throttles", fn.metric_throttles(period=PERIOD), 0, f"{key} function throttles")

        self.dashboard = cw.Dashboard(self, "Dashboard", default_interval=Duration.hours(3))
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Runs",
                left=[_metric(names.RUNS_CREATED), done, failed, _metric(names.RUNS_CANCELLED)],
                width=12,
            ),
            cw.GraphWidget(title="Failed-run rate", left=[failed_rate], width=12),
            cw.GraphWidget(
                title="Executions",
                left=[state_machine.metric_failed(period=PERIOD), state_machine.metric_timed_out(period=PERIOD)],
                width=12,
            ),
            cw.GraphWidget(
                title="API",
                left=[api_5xx],
                right=[rest_api.metric_latency(period=PERIOD, statistic="p90")],
                width=12,
            ),
            cw.GraphWidget(
                title="Notifications",
                left=[_metric(names.NOTIFICATIONS_DELIVERED), _metric(names.NOTIFICATIONS_FAILED)],
                width=12,
            ),
            cw.GraphWidget(
                title="Model latency (ms)",
                left=[_metric(names.MODEL_LATENCY, "Average"), _metric(names.MODEL_LATENCY, "p90")],
                width=12,
            ),
            cw.GraphWidget(
                title="Model tokens",
                left=[_metric(names.MODEL_INPUT_TOKENS), _metric(names.MODEL_OUTPUT_TOKENS)],
                width=12,
            ),
            cw.GraphWidget(title="Model throttles", left=[_metric(names.MODEL_THROTTLES)], width=12),
            cw.GraphWidget(
                title="Tool calls",
                left=[_metric(names.TOOL_CALLS), _metric(names.TOOL_ERRORS)],
                width=12,
            ),
            cw.GraphWidget(
                title="Approval wait (ms)",
                left=[_metric(names.APPROVAL_WAIT, "Average"), _metric(names.APPROVAL_WAIT, "Maximum")],
                width=12,
            ),
            cw.GraphWidget(
                title="Webhooks",
                left=[_metric(names.WEBHOOKS_DELIVERED), _metric(names.WEBHOOKS_FAILED)],
                width=12,
            ),
            cw.GraphWidget(
                title="Dead-letter queues",
                left=[
                    q.metric_approximate_number_of_messages_visible(period=Duration.minutes(1), statistic="Maximum")
                    for q in dead_letter_queues.values()
                ],
                width=12,
            ),
            cw.GraphWidget(
                title="Function errors",
                left=[fn.metric_errors(period=PERIOD) for fn in functions.values()],
                right=[fn.metric_throttles(period=PERIOD) for fn in functions.values()],
                width=12,
            ),
        )
        CfnOutput(
            scope,
            "DashboardUrl",
            value=f"https://{Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region={Aws.REGION}"
            f"#dashboards:name={self.dashboard.dashboard_name}",
            description="The runplane CloudWatch dashboard",
        )
        CfnOutput(scope, "AlarmTopicArn", value=self.topic.topic_arn, description="Alarms go to this SNS topic")
