"""Who is calling: the bearer token's customer."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from crossbay.api.deps import ClockDep, SessionDep
from crossbay.db import transaction
from crossbay.identity import service as identity
from crossbay.identity.errors import InvalidToken
from crossbay.identity.models import Customer

_bearer = HTTPBearer(auto_error=False, description="An access token from POST /api/v1/auth/token")


def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise InvalidToken()
    return credentials.credentials


BearerToken = Annotated[str, Depends(bearer_token)]


def current_customer(request: Request, token: BearerToken, session: SessionDep, clock: ClockDep) -> Customer:
    with transaction(session):
        customer = identity.authenticate(session, access_token=token, now=clock.now())
    request.state.customer_id = customer.id
    return customer


CurrentCustomer = Annotated[Customer, Depends(current_customer)]
