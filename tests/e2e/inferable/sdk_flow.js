// Drives the unmodified Inferable TypeScript SDK (npm `inferable` 0.30.61) against runplane.
// Run by tests/e2e/test_inferable_sdk.py with RUNPLANE_URL set; prints one JSON line (the facts the
// Python test asserts on) and exits 0, or prints the error and exits 1.
//
// The model is runplane's offline `scripted` provider; `test.modelScript` (a runplane extension the
// SDK passes through untouched) scripts its tool calls.
"use strict";

const { Inferable, approvalRequest, createApiClient } = require("inferable");

const endpoint = process.env.RUNPLANE_URL;
const facts = {};

function check(condition, message, detail) {
  if (!condition) {
    throw new Error(`${message}: ${JSON.stringify(detail)}`);
  }
}

async function obtainKey() {
  // The contract's createApiKey, with the admin key local mode was started with.
  const admin = process.env.RUNPLANE_ADMIN_KEY;
  check(admin, "RUNPLANE_ADMIN_KEY is not set", {});
  const res = await fetch(`${endpoint}/clusters/default/api-keys`, {
    method: "POST",
    headers: { authorization: admin, "content-type": "application/json" },
    body: JSON.stringify({ name: "inferable-sdk-e2e" }),
  });
  const body = await res.json();
  check(res.status === 200 && body.id && body.key && body.key.startsWith("sk_"), "createApiKey", { status: res.status });
  facts.keyFrom = "createApiKey";
  return body.key;
}

async function getRun(api, clusterId, runId) {
  const res = await api.getRun({ params: { clusterId, runId } });
  check(res.status === 200, "getRun", res);
  return res.body;
}

async function waitFor(api, clusterId, runId, status, timeoutMs = 30_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const run = await getRun(api, clusterId, runId);
    if (run.status === status) return run;
    check(Date.now() < end, `run ${runId} never became ${status}`, run);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function invocationResults(messages) {
  return messages.filter((m) => m.type === "invocation-result");
}

async function main() {
  check(endpoint, "RUNPLANE_URL is not set", process.env);
  const apiSecret = await obtainKey();
  const client = new Inferable({ apiSecret, endpoint, machineId: "sdk-e2e-machine" });
  const api = createApiClient({ baseUrl: endpoint, apiSecret, machineId: "sdk-e2e-machine" });
  const clusterId = await client.getClusterId();
  facts.clusterId = clusterId;

  // 1. run() with a JSON schema, poll() to the end, messages().
  const schema = {
    type: "object",
    properties: { category: { type: "string", enum: ["billing", "bug", "other"] }, urgent: { type: "boolean" } },
    required: ["category", "urgent"],
  };
  const first = await client.run({ initialPrompt: "Classify: my card was charged twice", resultSchema: schema });
  const done = await first.poll({ maxWaitTime: 30_000 });
  check(done && done.status === "done", "first run did not finish", done);
  check(["billing", "bug", "other"].includes(done.result.category), "result does not conform", done.result);
  check(typeof done.result.urgent === "boolean", "result does not conform", done.result);
  facts.firstRun = { status: done.status, result: done.result, feedbackScore: done.feedbackScore, userId: done.userId };
  const { messages } = await first.messages();
  facts.firstMessages = messages.map((m) => m.type);
  check(messages[0].type === "human" && messages[0].data.message.startsWith("Classify"), "first message", messages[0]);
  const last = messages[messages.length - 1];
  check(last.type === "agent" && last.data.done === true && last.data.result.category, "last message", last);

  // 2. A service of two functions; a run calls them; the run's context arrives as runContext.
  const seen = { lookup: [], refund: [], explode: 0 };
  const orders = client.service({ name: "orders" });
  orders.register({
    name: "lookup",
    description: "Look up an order by id.",
    schema: { input: { type: "object", properties: { orderId: { type: "string" } }, required: ["orderId"] } },
    func: async (input, ctx) => {
      seen.lookup.push({ input, runContext: ctx.runContext, approved: ctx.approved });
      return { orderId: input.orderId, status: "shipped", tenant: ctx.runContext && ctx.runContext.tenant };
    },
  });
  orders.register({
    name: "refund",
    description: "Refund an order (needs a human's approval).",
    schema: { input: { type: "object", properties: { orderId: { type: "string" } }, required: ["orderId"] } },
    config: { timeoutSeconds: 30, retryCountOnStall: 1 },
    func: async (input, ctx) => {
      seen.refund.push({ input, approved: ctx.approved });
      if (!ctx.approved) return approvalRequest();
      return { refunded: input.orderId };
    },
  });
  const ops = client.service({ name: "ops" });
  ops.register({
    name: "explode",
    description: "Always fails.",
    schema: { input: { type: "object", properties: {} } },
    func: async () => {
      seen.explode += 1;
      throw new Error("the warehouse is on fire");
    },
  });
  await orders.start();
  await ops.start();
  facts.activeServices = client.activeServices;

  const second = await client.run({
    initialPrompt: "Where is order o-1?",
    attachedFunctions: [{ service: "orders", function: "lookup" }],
    context: { tenant: "acme" },
    test: {
      modelScript: [{ toolCalls: [{ name: "orders_lookup", input: { orderId: "o-1" } }] }, { text: "Shipped." }],
    },
  });
  const secondDone = await second.poll({ maxWaitTime: 30_000 });
  check(secondDone.status === "done", "second run", secondDone);
  check(seen.lookup.length === 1, "lookup calls", seen.lookup);
  check(seen.lookup[0].runContext && seen.lookup[0].runContext.tenant === "acme", "runContext", seen.lookup[0]);
  const secondResults = invocationResults((await second.messages()).messages);
  check(secondResults.length === 1 && secondResults[0].data.result.status === "shipped", "lookup result", secondResults);
  facts.lookup = { seen: seen.lookup, result: secondResults[0].data.result };

  // 3. approvalRequest(): the run pauses; approved through the contract route; runs again approved.
  const third = await client.run({
    initialPrompt: "Refund order o-2",
    attachedFunctions: [{ service: "orders", function: "refund" }],
    test: {
      modelScript: [{ toolCalls: [{ name: "orders_refund", input: { orderId: "o-2" } }] }, { text: "Refunded." }],
    },
  });
  const paused = await waitFor(api, clusterId, third.id, "paused");
  const timeline = await api.getRunTimeline({ params: { clusterId, runId: third.id }, query: {} });
  check(timeline.status === 200, "timeline", timeline);
  const job = timeline.body.jobs.find((j) => j.approvalRequested && j.approved === null);
  check(job, "no job awaiting approval in the timeline", timeline.body.jobs);
  const approval = await api.createCallApproval({ params: { clusterId, callId: job.id }, body: { approved: true } });
  check(approval.status === 204, "createCallApproval", approval);
  const thirdDone = await third.poll({ maxWaitTime: 30_000 });
  check(thirdDone.status === "done", "third run", thirdDone);
  check(seen.refund.length === 2, "refund calls", seen.refund);
  check(seen.refund[0].approved === false && seen.refund[1].approved === true, "approved flags", seen.refund);
  const thirdResults = invocationResults((await third.messages()).messages);
  check(thirdResults.length === 1 && thirdResults[0].data.result.refunded === "o-2", "refund result", thirdResults);
  facts.refund = { paused: paused.status, pendingApprovals: paused.pendingApprovals.length, seen: seen.refund, jobId: job.id };

  // 4. A function throws: the model sees the rejection as the next turn's tool result.
  const fourth = await client.run({
    initialPrompt: "Try the dangerous thing",
    attachedFunctions: [{ service: "ops", function: "explode" }],
    test: { modelScript: [{ toolCalls: [{ name: "ops_explode", input: {} }] }, { text: "It failed." }] },
  });
  const fourthDone = await fourth.poll({ maxWaitTime: 30_000 });
  check(fourthDone.status === "done", "fourth run", fourthDone);
  const fourthMessages = (await fourth.messages()).messages;
  const rejected = invocationResults(fourthMessages);
  check(rejected.length === 1 && /warehouse is on fire/.test(rejected[0].data.result.error), "rejection", rejected);
  // What the model was sent: runplane's run log has the tool_result block of the next model turn.
  const log = await fetch(`${endpoint}/clusters/${clusterId}/runs/${fourth.id}/log`, {
    headers: { authorization: apiSecret },
  }).then((r) => r.json());
  const toolResult = log.entries
    .filter((e) => e.type === "message" && e.kind === "tool-result")
    .flatMap((e) => e.content)[0];
  check(toolResult && toolResult.is_error === true, "the model's tool_result", log.entries);
  const agentTurns = log.entries.filter((e) => e.type === "message" && e.kind === "agent");
  check(agentTurns.length === 2, "a model turn after the rejection", log.entries);
  facts.rejection = {
    explodeCalls: seen.explode,
    seenByModel: rejected[0].data.result.error,
    toolResult,
    runId: fourth.id,
  };

  // Who is polling, and when each was last seen.
  const machines = await api.listMachines({ params: { clusterId } });
  const services = await api.listServices({ params: { clusterId } });
  check(machines.status === 200 && services.status === 200, "listMachines/listServices", { machines, services });
  facts.machines = machines.body.map((m) => ({ id: m.id, lastPingAt: m.lastPingAt, ip: m.ip }));
  facts.services = services.body.map((s) => ({ name: s.name, functions: s.functions.map((f) => f.name), lastPingAt: s.lastPingAt }));
  facts.runIds = [first.id, second.id, third.id, fourth.id];

  await orders.stop();
  await ops.stop();
  process.stdout.write(JSON.stringify(facts) + "\n");
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
    process.stdout.write(JSON.stringify({ error: String(err), facts }) + "\n");
    process.exit(1);
  },
);
