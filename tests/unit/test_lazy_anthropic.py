"""The agent step loads only the parts of the ``anthropic`` SDK it uses (runplane.llm.lazy_packages):
the real SDK answers as before (Anthropic API and Bedrock, errors included), but the Vertex, Foundry
and Google Cloud clients and the unused types are never imported. Fresh interpreters, so that what
other tests imported does not count."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

FUNCTIONS = str(Path(__file__).resolve().parents[2] / "functions")

TURNS = r"""
import json, sys
import httpx2
from runplane.llm.anthropic_model import AnthropicModel
from runplane.llm.base import ModelRequest, ModelThrottled
import anthropic

ok = {"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "stop_reason": "tool_use",
      "stop_sequence": None, "usage": {"input_tokens": 3, "output_tokens": 4},
      "content": [{"type": "text", "text": "hi"}, {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}]}
answers = []
def handler(request):
    if request.headers.get("x-test") or len(answers) == 1:
        answers.append("429")
        return httpx2.Response(429, json={"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}})
    answers.append("200")
    return httpx2.Response(200, json=ok)
http = httpx2.Client(transport=httpx2.MockTransport(handler))
request = ModelRequest(model_id="m", system="be brief", messages=[{"role": "user", "content": "hi"}],
                       tools=[{"name": "f", "description": "d", "input_schema": {"type": "object"}}])
out = {}
for provider in sys.argv[1:]:
    answers.clear()
    model = (AnthropicModel.bedrock(region="us-east-1", http_client=http, max_retries=0) if provider == "bedrock"
             else AnthropicModel.anthropic(api_key="k", http_client=http, max_retries=0))
    first = model.complete(request)
    try:
        model.complete(request)
        second = "no error"
    except ModelThrottled as exc:
        second = type(exc).__name__
    tokens = [first.input_tokens, first.output_tokens]
    out[provider] = {"content": first.content, "stop": first.stop_reason, "tokens": tokens, "second": second}
loaded = sorted(m for m in sys.modules if m == "anthropic" or m.startswith("anthropic."))
out["loaded"] = loaded
out["lazy"] = type(anthropic.__spec__.loader).__name__
out["error_module"] = anthropic.RateLimitError.__module__
from anthropic.types import Message
out["message_class"] = Message.__name__
out["beta_attr"] = anthropic.types.beta.__name__
out["dir_has_vertex"] = "AnthropicVertex" in dir(anthropic)
print(json.dumps(out))
"""


def _run(code: str, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": FUNCTIONS, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_sdk_answers_through_lazy_packages() -> None:
    out = _run(TURNS, "anthropic", "bedrock")
    assert out["lazy"] == "_LazyInit"
    for provider in ("anthropic", "bedrock"):
        got = out[provider]
        assert got["content"] == [
            {"type": "text", "text": "hi"},
            {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}},
        ]
        assert (got["stop"], got["tokens"], got["second"]) == ("tool_use", [3, 4], "ModelThrottled")
    # The package's public names look as they did (error classes named anthropic.X), types resolve.
    assert out["error_module"] == "anthropic"
    assert out["message_class"] == "Message" and out["beta_attr"] == "anthropic.types.beta"
    assert out["dir_has_vertex"] is True


def test_unused_clients_and_types_are_not_loaded() -> None:
    lazy = _run(TURNS, "anthropic", "bedrock")["loaded"]
    for unused in ("anthropic.lib.vertex", "anthropic.lib.foundry", "anthropic.lib.google_cloud"):
        assert not [m for m in lazy if m == unused or m.startswith(unused + ".")], unused
    eager = _run(
        "import sys, json, anthropic\n"
        "print(json.dumps({'loaded': [m for m in sys.modules if m.startswith('anthropic')]}))"
    )
    assert "anthropic.lib.vertex" in eager["loaded"]  # what a plain `import anthropic` costs
    assert len(lazy) < len(eager["loaded"]) / 2, (len(lazy), len(eager["loaded"]))


def test_lazy_vertex_still_resolves_on_demand() -> None:
    code = (
        "import json, sys\n"
        "from runplane.llm import lazy_packages\n"
        "lazy_packages.install()\n"
        "import anthropic\n"
        "before = 'anthropic.lib.vertex' in sys.modules\n"
        "cls = anthropic.AnthropicVertex\n"
        "print(json.dumps({'before': before, 'after': 'anthropic.lib.vertex' in sys.modules, 'name': cls.__name__}))\n"
    )
    assert _run(code) == {"before": False, "after": True, "name": "AnthropicVertex"}
