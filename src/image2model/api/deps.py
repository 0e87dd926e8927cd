"""Dependencies: the clients made in lifespan, and who is calling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from image2model.api.auth import KeyRing
from image2model.api.links import Links
from image2model.api.signing import Signer
from image2model.config import Settings
from image2model.errors import NotFound
from image2model.identity import Principal
from image2model.jobs.events import EventHub
from image2model.jobs.service import JobService
from image2model.jobs.store import JobStore
from image2model.meshes import Tools
from image2model.providers.base import Provider
from image2model.providers.fal.prices import PriceBook
from image2model.storage import Storage


@dataclass
class Services:
    """Everything routes need, made once at start-up."""

    settings: Settings
    store: JobStore
    jobs: JobService
    storage: Storage
    hub: EventHub
    keys: KeyRing
    signer: Signer
    links: Links
    providers: dict[str, Provider]
    prices: PriceBook
    started_at: float
    tools: Tools
    """What the formats that need an outside program (FBX) have on this server."""


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_principal(
    services: ServicesDep, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    return services.keys.authenticate(authorization)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_admin(services: ServicesDep, principal: PrincipalDep) -> Principal:
    return services.keys.require_admin(principal)


AdminDep = Annotated[Principal, Depends(get_admin)]


def link_or_key(
    services: Services,
    request: Request,
    job_id: str,
    path: str,
    authorization: str | None,
    *,
    anonymous: bool = False,
) -> Principal:
    """A valid signature for `path`, one of job `job_id`'s resources, stands in for a key
    that may read that job and nothing else (a bad one is a plain 404); with `anonymous`, a
    request without any key is let through to the job too."""
    query = request.query_params
    if "signature" in query or "expires" in query:
        if not services.signer.verify(path, query.get("expires"), query.get("signature")):
            raise NotFound("Not found, or the link expired", error_code="NOT_FOUND")
        return Principal(key_id="link", name="signed-link", job_id=job_id)
    if anonymous and not authorization:
        return Principal(key_id="anonymous", name="anonymous", job_id=job_id)
    return services.keys.authenticate(authorization)
