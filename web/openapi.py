"""The HTTP API described as OpenAPI 3.1, served at ``/api/openapi.json``.

docs/api.md is the prose; this is the same contract for tools (client
generators, schemathesis). A test checks that every /api/ route is here.
"""

from __future__ import annotations

from typing import Any

from chat.rules import MAX_NAME, MAX_TEXT, ROOM_PATTERN

_ERROR = {"$ref": "#/components/responses/Error"}
_AUTH: list[dict[str, list[str]]] = [{"bearer": []}]


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): _ERROR for s in statuses}


def _query(name: str, schema: dict[str, Any], text: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema, "description": text}


def spec() -> dict[str, Any]:
    room = {"type": "string", "pattern": f"^{ROOM_PATTERN}$"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "socketio-chat HTTP API", "version": "1"},
        "paths": {
            "/api/session": {
                "post": {
                    "summary": "Hold a nickname in a room; returns a bearer token",
                    "requestBody": _json(
                        {
                            "type": "object",
                            "required": ["name"],
                            "properties": {
                                "name": {"type": "string", "maxLength": MAX_NAME},
                                "room": room,
                                "after": {"type": "integer", "minimum": 0},
                                "epoch": {"type": "string"},
                            },
                        }
                    ),
                    "responses": {
                        "201": _json(_ref("Session")),
                        **_errors(400, 409, 422, 429),
                    },
                },
                "delete": {
                    "summary": "Leave the room and end the session",
                    "security": _AUTH,
                    "responses": {"204": {"description": "left"}, **_errors(401)},
                },
            },
            "/api/messages": {
                "get": {
                    "summary": "Messages after or before an id, oldest first; polls",
                    "parameters": [
                        _query("room", room, "default: the session's room, else lobby"),
                        _query(
                            "after", {"type": "integer", "minimum": 0}, "last id seen"
                        ),
                        _query(
                            "before",
                            {"type": "integer", "minimum": 0},
                            "the newest messages older than this id (not with "
                            "after or wait): the page before the oldest you have",
                        ),
                        _query(
                            "limit", {"type": "integer", "minimum": 1}, "at most 500"
                        ),
                        _query("wait", {"type": "number", "maximum": 30}, "seconds"),
                    ],
                    "responses": {
                        "200": _json(_ref("Page")),
                        **_errors(400, 401, 422, 429),
                    },
                },
                "post": {
                    "summary": "Post a message; stored and broadcast before the answer",
                    "security": _AUTH,
                    "requestBody": _json(
                        {
                            "type": "object",
                            "required": ["text"],
                            "properties": {
                                "text": {"type": "string", "maxLength": MAX_TEXT}
                            },
                        }
                    ),
                    "responses": {
                        "201": _json(
                            {
                                "type": "object",
                                "properties": {"message": _ref("Message")},
                            }
                        ),
                        **_errors(400, 401, 422, 429, 503),
                    },
                },
            },
            "/api/typing": {
                "post": {
                    "summary": "Show or clear your typing indicator",
                    "security": _AUTH,
                    "requestBody": _json(
                        {
                            "type": "object",
                            "properties": {"typing": {"type": "boolean"}},
                        }
                    ),
                    "responses": {
                        "204": {"description": "done"},
                        **_errors(400, 401, 422),
                    },
                },
            },
            "/api/users": {
                "get": {
                    "summary": "Who is in a room",
                    "parameters": [_query("room", room, "default: lobby")],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "room": {"type": "string"},
                                    "users": {
                                        "type": "array",
                                        "items": {"type": "string"},
                                    },
                                },
                            }
                        ),
                        **_errors(401, 422, 429),
                    },
                },
            },
            "/api/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": {"description": "OpenAPI 3.1"}},
                }
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {
                "Error": _json(
                    {
                        "type": "object",
                        "properties": {
                            "error": {
                                "type": "object",
                                "required": ["code", "message"],
                                "properties": {
                                    "code": {"type": "string"},
                                    "message": {"type": "string"},
                                },
                            }
                        },
                    }
                )
                | {"description": "{error: {code, message}}"},
            },
            "schemas": {
                "Message": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "room": {"type": "string"},
                        "name": {"type": "string"},
                        "text": {"type": "string"},
                        "ts": {"type": "integer", "description": "ms since the epoch"},
                    },
                },
                "Page": {
                    "type": "object",
                    "properties": {
                        "messages": {"type": "array", "items": _ref("Message")},
                        "last_id": {"type": "integer"},
                    },
                },
                "Session": {
                    "type": "object",
                    "properties": {
                        "token": {"type": "string"},
                        "name": {"type": "string"},
                        "room": {"type": "string"},
                        "users": {"type": "array", "items": {"type": "string"}},
                        "messages": {"type": "array", "items": _ref("Message")},
                        "last_id": {"type": "integer"},
                        "epoch": {"type": "string"},
                        "expires_in": {"type": "number"},
                    },
                },
            },
        },
    }
