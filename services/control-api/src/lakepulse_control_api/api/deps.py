"""Dependencies shared by the routers: the control plane and bearer-token authentication."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from lakepulse_control_api import metrics
from lakepulse_control_api.plane import ControlPlane

_bearer = HTTPBearer(auto_error=False, description="one of the tokens in LAKEPULSE_CONTROL_API__TOKENS")


def get_plane(request: Request) -> ControlPlane:
    plane: ControlPlane = request.app.state.plane
    return plane


Plane = Annotated[ControlPlane, Depends(get_plane)]


def token_is_valid(given: str, tokens: list[SecretStr]) -> bool:
    """Constant-time comparison against every configured token (no early exit on a match)."""
    given_bytes = given.encode()
    valid = False
    for token in tokens:
        secret = token.get_secret_value().encode()
        valid |= bool(secret) and hmac.compare_digest(given_bytes, secret)
    return valid


def require_token(
    plane: Plane, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    if credentials is None or not token_is_valid(credentials.credentials, plane.settings.control_api.tokens):
        metrics.AUTH_FAILURES.inc()
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="a valid bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )


Authenticated = Depends(require_token)
