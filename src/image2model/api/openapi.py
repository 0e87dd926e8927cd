"""The OpenAPI document, with request bodies that say exactly which options each model takes.

What an upload may carry depends on the providers this deployment runs, so the upload and
generate bodies are built from the registry: one variant per provider and model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from image2model.providers.base import ModelSpec, OptionSpec, Provider

UPLOAD_PATH = "/api/v1/upload/"
GENERATE_PATH = "/api/v1/models/generate"
LISTING_PATH = "/api/v1/download/{job_id}/all"
FILE_PATH = "/api/v1/download/{job_id}/{filename}"

JOB_ID = "$response.body#/job_id"
Link = tuple[str, str, dict[str, Any]]
"""Method and path of the operation a link leads to, and its `parameters` or `requestBody`."""
JOB_LINKS: dict[str, Link] = {
    "Status": ("get", "/api/v1/status/tasks/{task_id}/status", {"parameters": {"task_id": JOB_ID}}),
    "Progress": (
        "get",
        "/api/v1/status/jobs/{job_id}/progress",
        {"parameters": {"job_id": JOB_ID}},
    ),
    "Document": ("get", "/api/v1/models/job/{job_id}", {"parameters": {"job_id": JOB_ID}}),
    "Cancel": ("post", "/api/v1/models/job/{job_id}/cancel", {"parameters": {"job_id": JOB_ID}}),
    "Listing": ("get", LISTING_PATH, {"parameters": {"job_id": JOB_ID}}),
    "Zip": ("get", "/api/v1/models/download/{job_id}", {"parameters": {"job_id": JOB_ID}}),
    "Delete": ("delete", "/api/v1/admin/delete-job/{job_id}", {"parameters": {"job_id": JOB_ID}}),
    "Again": (
        "post",
        GENERATE_PATH,
        {"requestBody": {"file_ids": ["$response.body#/uploaded_files/0/file_id"]}},
    ),
}
"""Where a new job's id leads (OpenAPI links): clients and fuzzers follow them to real jobs."""
FILE_LINKS: dict[str, Link] = {
    "Model": (
        "get",
        FILE_PATH,
        {
            "parameters": {
                "job_id": "$request.path.job_id",
                "filename": "$response.body#/files/0/filename",
            }
        },
    ),
}


def option_schema(spec: OptionSpec) -> dict[str, Any]:
    schema: dict[str, Any] = {"description": spec.description} if spec.description else {}
    refused = [value for value, _ in spec.refused]
    if spec.kind == "choice":
        allowed = [c for c in spec.choices or () if c not in refused]
        return {**schema, "type": "string", "enum": allowed}
    if spec.kind == "bool" and refused:
        return {**schema, "type": "boolean", "enum": [v for v in (False, True) if v not in refused]}
    kinds = {"int": "integer", "float": "number", "bool": "boolean", "str": "string"}
    schema["type"] = kinds[spec.kind]
    if spec.minimum is not None:
        schema["minimum"] = spec.minimum
    if spec.maximum is not None:
        schema["maximum"] = spec.maximum
    if spec.kind == "str":
        schema["maxLength"] = 200
    return schema


OBJECTS = {
    "type": "string",
    "description": (
        'JSON naming the views of each object: {"chair": {"front": "a.jpg", "back": "b.jpg"}}; '
        "one model per object, its sides among the model's `views`"
    ),
}


def option_variants(
    providers: dict[str, Provider],
    default_provider: str,
    images: tuple[str, dict[str, Any]],
    objects: bool = False,
) -> list[dict[str, Any]]:
    """One object schema per provider and model; a body matches exactly one of them.
    With `objects`, a model that takes several views also takes the `objects` field."""
    field, field_schema = images
    variants = []
    for name, provider in providers.items():
        for index, model in enumerate(provider.models):
            required = [field]
            if name != default_provider:
                required.append("provider")
            if index:
                required.append("model")
            variant = _variant(name, model, required, field, field_schema)
            if objects and model.views:
                variant["properties"]["objects"] = OBJECTS
            variants.append(variant)
    return variants


def _variant(
    provider: str, model: ModelSpec, required: list[str], field: str, field_schema: dict[str, Any]
) -> dict[str, Any]:
    properties = {
        field: field_schema,
        "provider": {"type": "string", "enum": [provider]},
        "model": {"type": "string", "enum": [model.id]},
        **{spec.name: option_schema(spec) for spec in model.options},
    }
    return {
        "title": f"{provider} / {model.id}",
        "type": "object",
        "required": required,
        "properties": properties,
        "additionalProperties": False,
    }


def install(
    app: FastAPI, providers: Callable[[], dict[str, Provider]], default: str, max_files: int
) -> None:
    """Replace `app.openapi` with one that describes this deployment's providers."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        files = {
            "type": "array",
            "items": {"type": "string", "format": "binary"},
            "minItems": 1,
            "maxItems": max_files,
        }
        file_ids = {
            "type": "array",
            "items": {"type": "string", "format": "uuid"},
            "minItems": 1,
            "maxItems": max_files,
        }
        _set_body(
            schema, UPLOAD_PATH, "multipart/form-data", providers(), default, ("files", files)
        )
        _set_body(
            schema, GENERATE_PATH, "application/json", providers(), default, ("file_ids", file_ids)
        )
        for path in (UPLOAD_PATH, GENERATE_PATH):
            _set_links(schema, ("post", path, "202"), JOB_LINKS)
        _set_links(schema, ("get", LISTING_PATH, "200"), FILE_LINKS)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _set_body(
    schema: dict[str, Any],
    path: str,
    media_type: str,
    providers: dict[str, Provider],
    default: str,
    images: tuple[str, dict[str, Any]],
) -> None:
    operation = schema["paths"].get(path, {}).get("post")
    if operation is None:
        return
    objects = media_type == "multipart/form-data"
    body = {"oneOf": option_variants(providers, default, images, objects)}
    operation["requestBody"] = {"required": True, "content": {media_type: {"schema": body}}}


def _set_links(
    schema: dict[str, Any],
    source: tuple[str, str, str],
    links: dict[str, Link],
) -> None:
    """OpenAPI links from one response to the operations its values identify."""
    paths = schema["paths"]
    method, path, status = source
    response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
    if response is None:
        return
    response["links"] = {
        name: {"operationId": paths[target][verb]["operationId"], **values}
        for name, (verb, target, values) in links.items()
        if verb in paths.get(target, {})
    }
