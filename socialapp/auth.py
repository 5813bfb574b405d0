"""API token authentication: knox's hashed, expiring, per-client tokens, refused once the password changed.

Tokens are issued and revoked by ``socialapp.services`` (``api_token_issue``, ``api_token_revoke``,
``api_tokens_revoke_all``). A token is stored only as its SHA-512 digest (knox), so a copy of the database
holds no usable credential.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed


class ApiTokenAuthentication(TokenAuthentication):
    """``Authorization: Token <key>``. Expired tokens are refused (and deleted) by knox; so is a token issued before
    the account's password last changed, as Django does for sessions."""

    def _cleanup_token(self, auth_token: Any) -> bool:
        """Only this token's own expiry (knox also lists every other token of the user on each request: a query per
        API call; expired ones are swept when the user next signs in, by ``services.api_token_issue``)."""
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False

    def validate_user(self, auth_token: Any) -> tuple[Any, Any]:
        user, token = super().validate_user(auth_token)
        changed = user.password_changed_at
        if changed is not None and token.created < changed:
            token.delete()
            raise AuthenticationFailed("This token was revoked when the account's password changed.")
        return user, token


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes the token header (drf-spectacular finds it by ``target_class``)."""

    target_class = "socialapp.auth.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'A token from POST /api/auth/token/, sent as "Token <key>"; it expires (see expires_at).',
        }
