"""`runplane local --max-running --rate-limit --rate-burst`: the caps and the per-key rate limit as a
user sets them, over real HTTP (the local gateway passes the 429 and its retry-after through)."""

from __future__ import annotations

import time

import boto3
import httpx

from tests.support import local_process


def test_flags_set_the_cap_and_the_rate_limit() -> None:
    args = ["--ephemeral", "--max-running", "1", "--rate-limit", "0.001", "--rate-burst", "4"]
    with local_process.local_mode(args=args) as server:
        assert "limits          1 running; 0.001 requests/s per key (bursts of 4)" in server["banner"]
        headers = {"authorization": server["key"]}
        with httpx.Client(base_url=server["api"], headers=headers, timeout=30) as http:
            first = http.post("/clusters/default/runs", json={"initialPrompt": "one"})
            second = http.post("/clusters/default/runs", json={"initialPrompt": "two"})
            assert first.status_code == 201 and second.status_code == 201, (first.text, second.text)
            # A cap of 1: both finish, one after the other (read from the emulator's table, so
            # that polling spends none of the key's requests).
            ddb = boto3.client(
                "dynamodb",
                endpoint_url=server["endpoint"],
                region_name="us-east-1",
                aws_access_key_id="local",
                aws_secret_access_key="local",
            )
            ends: dict[str, tuple[str, str]] = {}
            for run in (first.json(), second.json()):
                deadline = time.monotonic() + 60
                while True:
                    item = ddb.get_item(
                        TableName="runplane-runs",
                        Key={"PK": {"S": f"RUN#default#{run['id']}"}, "SK": {"S": "RUN"}},
                        ConsistentRead=True,
                    )["Item"]
                    history = [h["M"] for h in item.get("history", {}).get("L", [])]
                    if item["status"]["S"] in ("done", "failed", "cancelled"):
                        admitted = next(h["at"]["S"] for h in history if h["status"]["S"] == "running")
                        ends[run["id"]] = (admitted, history[-1]["at"]["S"])
                        assert item["status"]["S"] == "done"
                        break
                    assert time.monotonic() < deadline, item["status"]
                    time.sleep(0.2)
            (start_1, end_1), (start_2, _) = ends[first.json()["id"]], ends[second.json()["id"]]
            assert start_1 <= end_1 <= start_2  # the second was admitted only after the first ended
            # The cluster key has sent 2 requests; 2 more fill its burst of 4, the next is refused.
            assert [http.get("/clusters/default/runs").status_code for _ in range(2)] == [200, 200]
            refused = http.get("/clusters/default/runs")
            assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
            assert refused.json()["errors"][0]["field"] == "authorization"
