"""A compact OpenAPI 3 description of the /marketplace JSON API (served at /marketplace/openapi.json)."""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}


def _resp(*codes: int) -> dict[str, Any]:
    out: dict[str, Any] = {"200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}}
    for code in codes:
        out[str(code)] = {"description": "error", "content": {"application/json": {"schema": _ERROR}}}
    return out


def spec(base_url: str) -> dict[str, Any]:
    """The spec, with `base_url` as its server."""
    token_param = {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "AI Admin marketplace API", "version": "1.0.0"},
        "servers": [{"url": base_url or "/"}],
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
            "schemas": {
                "Error": {"type": "object", "required": ["success", "error"], "properties": {
                    "success": {"type": "boolean"},
                    "error": {"type": "object", "properties": {"code": {"type": "string"}, "message": {"type": "string"}}},
                }},
            },
        },
        "paths": {
            "/marketplace/test": {"get": {"responses": _resp()}},
            "/marketplace/register": {"post": {
                "security": [{"apiKey": []}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["salon_id", "phone", "email"], "properties": {
                        "salon_id": {"type": "integer", "minimum": 1},
                        "phone": {"type": "string", "example": "+79001234567"},
                        "email": {"type": "string", "format": "email"}}}}}},
                "responses": _resp(400, 401, 403, 409, 413),
            }},
            "/marketplace/qr/{token}": {"get": {"parameters": [token_param], "responses": {
                **_resp(401, 403), "202": {"description": "no QR yet"}}}},
            "/marketplace/pairing-code/{token}": {"post": {
                "parameters": [token_param],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["phone"], "properties": {"phone": {"type": "string"}}}}}},
                "responses": _resp(400, 401, 403, 409)}},
            "/marketplace/status/{companyId}": {"get": {
                "security": [{"apiKey": []}, {"bearer": []}],
                "parameters": [{"name": "companyId", "in": "path", "required": True,
                                "schema": {"type": "integer", "minimum": 1}}],
                "responses": _resp(400, 401, 403, 404)}},
            "/marketplace/activate/{companyId}": {"post": {
                "security": [{"apiKey": []}, {"bearer": []}],
                "parameters": [{"name": "companyId", "in": "path", "required": True,
                                "schema": {"type": "integer", "minimum": 1}}],
                "responses": _resp(400, 401, 403, 404)}},
            "/marketplace/callback": {"post": {
                "security": [{"apiKey": []}],
                "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": _resp(400, 401, 403)}},
            "/marketplace/webhook/yclients": {"post": {
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["salon_id", "application_id", "partner_token"], "properties": {
                        "salon_id": {"type": "integer"}, "application_id": {"type": "integer"},
                        "event": {"type": "string", "enum": ["uninstall", "freeze"]},
                        "partner_token": {"type": "string"}}}}}},
                "responses": _resp(400, 403)}},
            "/marketplace/companies": {"get": {
                "security": [{"apiKey": []}],
                "parameters": [{"name": n, "in": "query", "schema": {"type": "integer", "minimum": 1}}
                               for n in ("salon_id", "page", "count")],
                "responses": _resp(400, 401, 403)}},
        },
    }
