"""The API's request binding (handlers/binding.py): path and query parameters and the JSON body are
validated with pydantic, errors name the field, the route gets typed values, and the OpenAPI
document still shows the constraints as Powertools' own parameters."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel

from runplane.handlers.binding import BadInput, Path, Query, Resolver
from runplane.local.http import proxy_event


class Item(BaseModel):
    name: str
    size: int


app = Resolver()
seen: list[dict[str, Any]] = []


@app.post("/things/<thingId>")
def put_thing(
    thingId: Annotated[str, Path(pattern=r"^t[0-9]+$")],
    body: Item,
    limit: Annotated[int, Query(ge=1, le=5)] = 2,
) -> dict[str, Any]:
    seen.append({"thingId": thingId, "body": body, "limit": limit})
    return {"price": Decimal("2.50"), "count": Decimal("3"), "tags": {"x"}}


@app.exception_handler(BadInput)
def _bad(exc: BadInput) -> Any:
    from aws_lambda_powertools.event_handler import Response

    return Response(status_code=400, content_type="application/json", body={"errors": exc.errors})


def call(path: str, body: Any = None, query: dict[str, str] | None = None) -> tuple[int, Any]:
    event = proxy_event("POST", path, body=None if body is None else json.dumps(body), headers={}, stage="v1")
    event["queryStringParameters"] = query
    out = app.resolve(event, None)
    return out["statusCode"], json.loads(out["body"])


def test_a_fitting_request_reaches_the_route_typed_and_its_answer_is_json() -> None:
    seen.clear()
    status, body = call("/things/t1", {"name": "a", "size": "3"}, {"limit": "4", "other": "ignored"})
    assert status == 200
    assert body == {"price": 2.5, "count": 3, "tags": ["x"]}  # Decimal as a number, a set as a list
    assert seen == [{"thingId": "t1", "body": Item(name="a", size=3), "limit": 4}]
    call("/things/t2", {"name": "b", "size": 1})
    assert seen[-1]["limit"] == 2  # the default


def test_errors_name_the_field_and_the_problem() -> None:
    assert call("/things/x1", {"name": "a", "size": 1}) == (
        400,
        {"errors": [{"field": "thingId", "problem": "String should match pattern '^t[0-9]+$'"}]},
    )
    status, body = call("/things/t1", {"name": "a", "size": "big"}, {"limit": "9"})
    assert status == 400
    assert body["errors"] == [  # every problem, in the signature's order
        {"field": "size", "problem": "Input should be a valid integer, unable to parse string as an integer"},
        {"field": "limit", "problem": "Input should be less than or equal to 5"},
    ]
    assert call("/things/t1") == (400, {"errors": [{"field": "body", "problem": "Field required"}]})


def test_the_openapi_document_shows_the_constraints() -> None:
    schema = json.loads(app.get_openapi_json_schema(title="t", version="1"))
    operation = schema["paths"]["/things/{thingId}"]["post"]
    params = {p["name"]: p for p in operation["parameters"]}
    assert params["thingId"]["in"] == "path" and params["thingId"]["schema"]["pattern"] == "^t[0-9]+$"
    assert params["limit"]["in"] == "query" and params["limit"]["schema"]["maximum"] == 5
    assert "requestBody" in operation
