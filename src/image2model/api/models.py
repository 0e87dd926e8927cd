"""Models: what can be generated, new jobs from stored images, job documents, cancel, ZIPs."""

from __future__ import annotations

from dataclasses import asdict
from functools import partial
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from image2model.api import cost, links, objects
from image2model.api.deps import PrincipalDep, ServicesDep, link_or_key
from image2model.api.lifecycle import OpsDep
from image2model.api.schemas import (
    EXPIRED_ERRORS,
    FINISHED_ERRORS,
    UPLOAD_ERRORS,
    UploadResponse,
)
from image2model.api.selection import chosen_model, job_options, usable_providers
from image2model.api.upload import accepted
from image2model.errors import BadRequest
from image2model.identity import Principal
from image2model.jobs import results
from image2model.jobs.results import ModelFormat

router = APIRouter(prefix="/models", tags=["models"])


LEGACY_MODEL_TYPE = "tripo3d"


class GenerateRequest(BaseModel):
    """A new job from images uploaded before, with new options.

    The replaced service's body, `{file_id, model_type, quality, texture_enabled}`, is read
    too: `file_id` is one of `file_ids`, `model_type` "tripo3d" is this server's default
    model (any other is a model `name` from `GET /models/available`), `texture_enabled`
    switches the model's texture, and `quality` (low, medium, high) is accepted and changes
    nothing, as there.
    """

    model_config = ConfigDict(extra="allow")

    file_ids: list[str] = Field(default_factory=list, max_length=1000)
    file_id: str | None = None
    provider: str | None = None
    model: str | None = None
    face_limit: int | None = None
    texture: str | bool | None = None
    pbr: bool | None = None
    seed: int | None = None
    model_type: str | None = None
    quality: Literal["low", "medium", "high"] | None = None
    texture_enabled: bool | None = None

    @model_validator(mode="after")
    def _one_way_to_name_the_files(self) -> GenerateRequest:
        if self.file_id is not None and self.file_ids:
            raise ValueError("Send file_ids or file_id, not both")
        if self.file_id is not None:
            self.file_ids = [self.file_id]
        if not self.file_ids:
            raise ValueError("file_ids required: the ids of images uploaded before")
        if self.model_type not in (None, LEGACY_MODEL_TYPE):
            if self.model is not None:
                raise ValueError("Send model or model_type, not both")
            self.model = self.model_type  # a name from GET /models/available
        return self


@router.get("/providers")
async def providers(services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    """Providers a new job can use, their models and each option's allowed values and default.

    Providers this server knows but cannot use (fal without FAL_KEY) are listed apart.
    """
    usable = usable_providers(services.providers)
    prices = await services.prices.prices() if "fal" in usable else {}
    return {
        "default_provider": services.settings.default_provider,
        "providers": [
            {
                "name": name,
                "default_model": provider.models[0].id,
                "models": [
                    {**asdict(model), "price": cost.price_out(prices.get(model.id))}
                    if name == "fal"
                    else asdict(model)
                    for model in provider.models
                ],
            }
            for name, provider in usable.items()
        ],
        "unavailable": [
            {"name": name, "reason": "FAL_KEY is not set on this server"}
            for name in services.providers
            if name not in usable
        ],
    }


@router.get("/available")
async def available(services: ServicesDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """Every model a new job can use, one entry each, in the replaced service's shape
    (`name`, `description`, `type`, `supported_formats`) with its provider, options, views
    and price; the server's default model first. `GET /models/providers` groups the same
    by provider."""
    listing = await providers(services, principal)
    default = services.settings.default_provider
    ordered = sorted(listing["providers"], key=lambda p: p["name"] != default)
    return [
        {
            "name": model["id"],
            "description": model["description"],
            "type": "image_to_3d",
            "supported_formats": [
                f for f in results.LISTED_FORMATS if f not in services.tools.unavailable()
            ],
            "display_name": model["name"],
            "provider": provider["name"],
            "default": provider["name"] == default and model["id"] == provider["default_model"],
            **{k: v for k, v in model.items() if k not in ("name", "description")},
        }
        for provider in ordered
        for model in provider["models"]
    ]


async def _generate_body(request: Request, principal: PrincipalDep) -> GenerateRequest:
    """The JSON body, read only once the caller is known, so strangers learn nothing from
    its validation (FastAPI would parse a declared body before any dependency runs)."""
    try:
        raw = await request.json()
    except ValueError:
        raise RequestValidationError(
            [{"loc": ("body",), "msg": "The body must be a JSON object", "type": "json_invalid"}]
        ) from None
    try:
        return GenerateRequest.model_validate(raw)
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]
        ) from None


@router.post(
    "/generate",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=UploadResponse,
    responses=UPLOAD_ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": GenerateRequest.model_json_schema()}},
        }
    },
)
async def generate(
    body: Annotated[GenerateRequest, Depends(_generate_body)],
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
    ops: OpsDep,
) -> UploadResponse:
    """Queue a new job for already uploaded `file_ids` with the given options."""
    settings = services.settings
    if len(body.file_ids) > settings.MAX_FILES_PER_UPLOAD:
        raise BadRequest(
            f"At most {settings.MAX_FILES_PER_UPLOAD} files", error_code="TOO_MANY_FILES"
        )
    fields = body.model_dump(
        exclude={"file_ids", "file_id", "model_type", "quality"}, exclude_none=True
    )
    options = job_options(services.providers, settings, fields)
    model = chosen_model(services.providers, options)
    expected = await cost.estimate(services.prices, options, len(body.file_ids))
    cost.check_budget(expected, settings.MAX_COST_PER_JOB)
    job = await services.jobs.resubmit(
        owner=principal,
        file_ids=body.file_ids,
        options=options,
        request_id=request.headers.get("x-request-id"),
        check=partial(objects.check_items, model),
        cost=expected,
    )
    return accepted(services, ops, job)


@router.get("/job/{job_id}")
async def job_document(
    job_id: str, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """The whole job: options, timestamps and every item."""
    job = await services.jobs.get(job_id, principal)
    document = job.model_dump(mode="json", exclude={"owner"})
    for item in document["items"]:
        item.pop("provider_state", None)
        item.pop("stored_name", None)
        for view in item["views"]:
            view.pop("stored_name", None)
    document.update(task_id=job.job_id, batch_id=job.job_id, progress=job.progress)
    if document["cost"] is not None:
        document["cost"].update(cost.spent(job) or {})
    return document


@router.post("/job/{job_id}/cancel")
async def cancel(job_id: str, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    """Cancel the job's queued and running items."""
    job = await services.jobs.cancel(job_id, principal)
    return {"job_id": job.job_id, "status": job.status.value, "counts": job.counts()}


async def _zip_viewer(
    job_id: str,
    request: Request,
    services: ServicesDep,
    authorization: Annotated[str | None, Header()] = None,
) -> Principal:
    """Who may read the ZIP: checked before the query is, so strangers learn nothing."""
    return link_or_key(services, request, job_id, links.zip_path(job_id), authorization)


@router.get(
    "/download/{job_id}",
    response_class=FileResponse,
    responses={**FINISHED_ERRORS, **EXPIRED_ERRORS, 200: {"content": {"application/zip": {}}}},
)
async def download_all(
    job_id: str,
    services: ServicesDep,
    viewer: Annotated[Principal, Depends(_zip_viewer)],
    format: Annotated[ModelFormat, Query()] = "glb",
) -> FileResponse:
    """Every model of a finished job in one format, as a ZIP."""
    job = await services.jobs.get(job_id, viewer)
    path = await anyio.to_thread.run_sync(
        results.bundle, services.storage, job, format, services.tools
    )
    return FileResponse(path, media_type="application/zip", filename=f"{job_id}-{format}.zip")
