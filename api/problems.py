"""Errors to HTTP: one table mapping error classes to RFC 9457 problem+json responses."""

from __future__ import annotations

import math
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from api.dispatch_flow import OfferNotYours
from api.tokens import InvalidToken
from dispatch import errors as dispatch_errors
from orders import errors as order_errors
from payments import errors as payment_errors
from scaling import errors as scaling_errors
from store import errors as store_errors

PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True, slots=True)
class Problem:
    status: int
    slug: str
    title: str


class NotFound(LookupError):
    """An id the caller's tenant does not have (also what another tenant's id looks like)."""

    def __init__(self, field: str, value: Any) -> None:
        self.field = field
        self.value = value
        super().__init__(f"unknown {field}={value!r}")


class Forbidden(PermissionError):
    """Authenticated, but the credential may not do this (a driver token on a tenant route)."""


class Conflict(RuntimeError):
    """The request clashes with the current state (an idempotency key reused with another body)."""


_CONFLICT = Problem(409, "conflict", "Conflict with the current state")
_UNAVAILABLE = Problem(503, "unavailable", "Temporarily unavailable; retry later")

PROBLEMS: dict[type[BaseException], Problem] = {
    store_errors.IdempotencyConflict: _CONFLICT,
    order_errors.IdempotencyConflict: _CONFLICT,
    store_errors.StaleVersion: _CONFLICT,
    dispatch_errors.OfferConflict: _CONFLICT,
    store_errors.AlreadyExists: _CONFLICT,
    order_errors.IllegalTransition: _CONFLICT,
    order_errors.ConcurrentUpdate: _CONFLICT,
    order_errors.IdempotencyTaken: _CONFLICT,
    order_errors.WrongCourier: Problem(403, "forbidden", "Not this courier's order"),
    order_errors.PinLocked: Problem(423, "locked", "Locked after too many wrong PINs"),
    order_errors.SignatureInvalid: Problem(400, "bad-signature", "Signature refused"),
    payment_errors.CallbackRejected: _CONFLICT,
    payment_errors.ProviderRefused: _CONFLICT,
    OfferNotYours: Problem(403, "forbidden", "Not this courier's offer"),
    store_errors.TrackBufferFull: _UNAVAILABLE,
    store_errors.StoreUnavailable: _UNAVAILABLE,
    store_errors.DatabaseError: _UNAVAILABLE,
    scaling_errors.ShardTimeout: _UNAVAILABLE,
    scaling_errors.NoShardMap: _UNAVAILABLE,
    scaling_errors.ShardRefused: _CONFLICT,
    scaling_errors.DispatchInShards: _CONFLICT,
    InvalidToken: Problem(401, "unauthorized", "Missing or invalid credentials"),
    Forbidden: Problem(403, "forbidden", "Not allowed for this credential"),
    PermissionError: Problem(401, "unauthorized", "Missing or invalid credentials"),
    NotFound: Problem(404, "not-found", "Not found"),
    LookupError: Problem(404, "not-found", "Not found"),
    Conflict: _CONFLICT,
    ValueError: Problem(422, "invalid-input", "Invalid input"),
}
"""Walked along the raised error's MRO, most specific class first; later issues add theirs."""


def problem_for(exc: BaseException) -> Problem | None:
    for cls in type(exc).__mro__:
        found = PROBLEMS.get(cls)
        if found is not None:
            return found
    return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def problem_body(exc: BaseException, problem: Problem, instance: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"https://hexdispatch.dev/problems/{problem.slug}",
        "title": problem.title,
        "status": problem.status,
        "detail": str(exc),
        "instance": instance,
    }
    problems = getattr(exc, "problems", None)
    if problems:
        body["errors"] = [{"field": f, "value": _jsonable(v), "reason": r} for f, v, r in problems]
    elif hasattr(exc, "field"):
        body["errors"] = [
            {
                "field": exc.field,
                "value": _jsonable(getattr(exc, "value", None)),
                "reason": str(getattr(exc, "reason", exc)),
            }
        ]
    return body


async def http_problem(request: Request, exc: Exception) -> JSONResponse:
    """The framework's own errors (unknown path, wrong method, unparsable body) as problem+json,
    so a client sees one error format whatever refused its request."""
    assert isinstance(exc, HTTPException)
    slug = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "-")
    body = {
        "type": f"https://hexdispatch.dev/problems/{slug}",
        "title": HTTPStatus(exc.status_code).phrase,
        "status": exc.status_code,
        "detail": str(exc.detail),
        "instance": request.url.path,
    }
    return JSONResponse(
        body, status_code=exc.status_code, media_type=PROBLEM_JSON, headers=exc.headers
    )


async def problem_response(request: Request, exc: Exception) -> JSONResponse:
    problem = problem_for(exc)
    if problem is None:
        raise exc
    headers = {"WWW-Authenticate": "Bearer"} if problem.status == 401 else None
    return JSONResponse(
        problem_body(exc, problem, request.url.path),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )
