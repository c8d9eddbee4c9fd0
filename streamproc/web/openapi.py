"""The OpenAPI 3 description of the web view's JSON API, served at ``/api/openapi.json``.

Written by hand, for the routes of :mod:`streamproc.web.overview` and :mod:`streamproc.web.playlists`
alike; ``tests/integration/test_web_pages.py`` calls every path it documents on a running worker
and checks that the answer is one of the documented ones, so a path that is not served fails there.
"""

from __future__ import annotations

from typing import Any

from streamproc.web.search import MAX_QUERY

_ERROR = {
    "description": "",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def _error(description: str) -> dict[str, Any]:
    return {**_ERROR, "description": description}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_NUMBER_OR_NULL = {"type": ["number", "null"]}
_USER_ID = {
    "name": "user_id", "in": "path", "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": 256},
    "description": "a user id as on the `listens` topic (URL-encoded)",
}

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "streamproc web view",
        "version": "1",
        "description": (
            "The JSON behind the pages of a streamproc worker. Every worker answers every path; "
            "user paths are forwarded to the worker that owns the user's partition. Errors are "
            "JSON objects with an `error` message."
        ),
    },
    "paths": {
        "/api/stats/": {
            "get": {
                "summary": "Counters and model state of this worker",
                "responses": {"200": _json("the overview", {"$ref": "#/components/schemas/Stats"})},
            }
        },
        "/api/users/{user_id}/": {
            "get": {
                "summary": "A user's latest recommendations with reasons, most played items and mean audio features",
                "parameters": [_USER_ID],
                "responses": {
                    "200": _json("the user", {"$ref": "#/components/schemas/User"}),
                    "400": _error("the user id is longer than 256 characters"),
                    "404": _error("no recommendations for this user yet"),
                    "503": _error("the worker owning the user is not reachable yet"),
                },
            }
        },
        "/api/clusters/": {
            "get": {
                "summary": "Audio-feature clusters: sizes, silhouette and a 2-D PCA projection of a sample",
                "responses": {"200": _json("the clusters", {"$ref": "#/components/schemas/Clusters"})},
            }
        },
        "/api/search": {
            "get": {
                "summary": "Find a user by id, or at most 20 tracks whose name contains the query (any case)",
                "parameters": [{
                    "name": "q", "in": "query", "required": True,
                    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY},
                }],
                "responses": {
                    "200": _json("what matched", {"$ref": "#/components/schemas/Search"}),
                    "400": _error(f"the query is missing, blank or longer than {MAX_QUERY} characters"),
                },
            }
        },
        "/api/users/{user_id}/playlists/{kind}": {
            "get": {
                "summary": "The user's latest playlist of a kind, as sent to `playlists` (streamproc.web.playlists)",
                "parameters": [_USER_ID, {
                    "name": "kind", "in": "path", "required": True,
                    "schema": {"enum": ["discover", "emerging"]},
                }],
                "responses": {
                    "200": _json("the `playlists` message", {"type": "object"}),
                    "404": _error("an unknown kind, or no list of that kind for the user yet"),
                },
            }
        },
        "/api/items/{item_id}/similar": {
            "get": {
                "summary": "Items (ALS factors, audio features) and artists similar to an item (streamproc.web.playlists)",
                "parameters": [
                    {"name": "item_id", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "n", "in": "query", "required": False,
                     "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}},
                ],
                "responses": {
                    "200": _json("similar items, each with its `source`, and similar artists", {"type": "object"}),
                    "400": _error("n is not a whole number between 1 and 100"),
                    "404": _error("unknown item"),
                },
            }
        },
        "/api/partitions/": {
            "get": {
                "summary": "The `listens` partitions this worker owns: users, events, the offset applied through "
                           "(streamproc.web.partitions)",
                "responses": {"200": _json("partition → its state", {"type": "object"})},
            }
        },
        "/api/partitions/{partition}/users": {
            "get": {
                "summary": "User id → events applied, for one partition this worker owns",
                "parameters": [{"name": "partition", "in": "path", "required": True,
                                "schema": {"type": "integer", "minimum": 0}}],
                "responses": {
                    "200": _json("the partition's users", {"type": "object"}),
                    "400": _error("not a partition number"),
                    "404": _error("another worker owns this partition"),
                },
            }
        },
        "/api/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {"200": _json("OpenAPI 3.1", {"type": "object"})},
            }
        },
    },
    "components": {
        "schemas": {
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
            "Stats": {
                "type": "object",
                "required": ["users", "tracks", "events", "dead_letters", "model", "clusters"],
                "properties": {
                    "users": {"type": "integer", "description": "users of the partitions this worker owns"},
                    "tracks": {"type": "integer", "description": "tracks in the catalogue"},
                    "events": {"type": "integer", "description": "events in those users' histories"},
                    "dead_letters": {"type": "integer"},
                    "clusters": {"type": "integer", "description": "k of the audio-feature k-means (0 before it has run)"},
                    "model": {
                        "type": "object",
                        "properties": {
                            "version": {"type": "integer"},
                            "trained_at": {**_NUMBER_OR_NULL, "description": "Unix time"},
                            "fit_seconds": _NUMBER_OR_NULL,
                            "users": {"type": "integer"},
                            "items": {"type": "integer"},
                        },
                    },
                    "stream": {
                        "type": "object",
                        "description": "this worker's stream metrics: events_total (events it applied), "
                                       "events_per_second, lag (topic → partition → messages), latency_ms "
                                       "percentiles, dead_letters, model (the version published by the trainer "
                                       "and installed here), trainer (what the trainer holds, on the leader; "
                                       "else null)",
                    },
                },
            },
            "Item": {
                "type": "object",
                "properties": {
                    "item_id": {"type": "string"},
                    "name": {"type": ["string", "null"]},
                    "artists": {"type": "array", "items": {"type": "string"}},
                },
            },
            "User": {
                "type": "object",
                "required": ["user_id", "recommendations", "most_played", "features"],
                "properties": {
                    "user_id": {"type": "string"},
                    "events": {"type": "integer"},
                    "recommendations": {
                        "type": "object",
                        "description": "the latest `recommendations` message, its items with names and reasons",
                        "properties": {
                            "generated_at": {"type": "number"},
                            "model": {"type": "object"},
                            "items": {"type": "array", "items": {"allOf": [
                                {"$ref": "#/components/schemas/Item"},
                                {"type": "object", "properties": {
                                    "score": {"type": "number"},
                                    "source": {"enum": ["als", "hybrid", "content", "popular"]},
                                    "model": {"type": "string",
                                              "description": "which model the item came from: its source, and for "
                                                             "a hybrid item the part of the blend its score owes "
                                                             "most (`hybrid, mostly EASE`)"},
                                    "reason": {"type": "string", "description": "one line: why this item"},
                                    "because": {"type": ["string", "null"],
                                                "description": "the played item the reason rests on"},
                                }},
                            ]}},
                        },
                    },
                    "most_played": {"type": "array", "items": {"allOf": [
                        {"$ref": "#/components/schemas/Item"},
                        {"type": "object", "properties": {"confidence": {"type": "number"}}},
                    ]}},
                    "features": {
                        "type": "object",
                        "description": "mean 0-1 audio features of the favourites and of the list (null: none has features)",
                        "properties": {
                            "names": {"type": "array", "items": {"type": "string"}},
                            "favourites": {"type": ["array", "null"], "items": {"type": "number"}},
                            "recommended": {"type": ["array", "null"], "items": {"type": "number"}},
                        },
                    },
                },
            },
            "Clusters": {
                "type": "object",
                "properties": {
                    "fitted": {"type": "boolean"},
                    "k": {"type": "integer"},
                    "tracks": {"type": "integer", "description": "tracks with audio features"},
                    "sizes": {"type": "array", "items": {"type": "integer"}, "description": "tracks per cluster"},
                    "silhouette": {**_NUMBER_OR_NULL, "description": "mean silhouette on a seeded sample"},
                    "silhouette_sample": {"type": "integer"},
                    "sample": {"type": "integer", "description": "points in the projection (at most 3000)"},
                    "points": {"type": "array", "description": "[pc1, pc2, cluster, item_id, label]",
                               "items": {"type": "array"}},
                    "computed_at": {"type": "number"},
                },
            },
            "Search": {
                "type": "object",
                "properties": {
                    "query": {"type": "string"},
                    "user": {"type": ["string", "null"], "description": "the query, when it is a known user id"},
                    "tracks": {"type": "array", "items": {"allOf": [
                        {"$ref": "#/components/schemas/Item"},
                        {"type": "object", "properties": {"listeners": {"type": "integer"}}},
                    ]}},
                    "total": {"type": "integer", "description": "tracks that matched, before the cut at 20"},
                },
            },
        }
    },
}
