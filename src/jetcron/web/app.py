"""The ASGI app: the API routers, problem+json errors, OpenAPI and docs, the console."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

import msgspec
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, Response
from fastapi.routing import iter_route_contexts
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.routing import compile_path

from jetcron import __version__
from jetcron.domain.calendar import CalendarDefinition
from jetcron.domain.fields import ScheduleFields
from jetcron.errors import JetcronError
from jetcron.web import (
    api_backfill,
    api_calendars,
    api_notify,
    api_runs,
    api_schedules,
    api_views,
    events,
)
from jetcron.web.api_notify import NotificationBody
from jetcron.web.freshness import StaleHeaders
from jetcron.web.gateway import Gateway
from jetcron.web.guard import Guard
from jetcron.web.problems import Problem, method_problem, parameter_problem, problem_of

STATIC = Path(str(files("jetcron.web") / "static"))
OPENAPI_URL = "/api/v1/openapi.json"
SCHEMAS = (ScheduleFields, CalendarDefinition, NotificationBody)
"""The bodies the routes read themselves, as named schemas (`http.component` refers to them)."""


def create_app(gateway: Gateway, *, connect: bool = True) -> FastAPI:
    """The app over a gateway; with `connect`, the gateway connects and closes with the app."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if connect:
            await gateway.start()
        try:
            yield
        finally:
            if connect:
                await gateway.stop()

    app = FastAPI(
        title="jetcron",
        version=__version__,
        description="The HTTP API of jetcron: the CLI's commands and queries over HTTP.",
        openapi_url=OPENAPI_URL,
        docs_url=None,  # why: FastAPI's default docs load Swagger UI from a CDN; ours is local
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    for router in (
        api_schedules.router,
        api_backfill.router,
        api_calendars.router,
        api_runs.router,
        api_views.router,
        api_notify.router,
        events.router,
    ):
        app.include_router(router)
    app.include_router(api_views.probes)
    app.add_middleware(StaleHeaders)
    # why: added last, so it runs first: a request from another page is refused unread
    app.add_middleware(Guard, names=gateway.served)
    _errors(app)
    _openapi(app)
    _pages(app)
    return app


def _problem(request: Request, problem: Problem) -> Response:
    return problem.response(request.url.path)


def _errors(app: FastAPI) -> None:
    async def on_problem(request: Request, err: Exception) -> Response:
        assert isinstance(err, Problem)
        return _problem(request, err)

    async def on_jetcron(request: Request, err: Exception) -> Response:
        assert isinstance(err, JetcronError)
        return _problem(request, problem_of(err))

    async def on_invalid(request: Request, err: Exception) -> Response:
        assert isinstance(err, RequestValidationError)
        first: dict[str, Any] = err.errors()[0] if err.errors() else {}
        return _problem(request, Problem(400, parameter_problem(first)))

    async def on_http(request: Request, err: Exception) -> Response:
        assert isinstance(err, HTTPException)
        headers = dict(err.headers or {})
        if err.status_code == 405:
            # why: RFC 9110 wants Allow on a 405, naming every method of the path; Starlette
            # names only those of the first route whose path matched (GET of GET/PATCH/DELETE)
            headers["Allow"] = _allowed(app, request)
            problem = method_problem(request.method, request.url.path, headers["Allow"])
        else:
            problem = Problem(err.status_code, str(err.detail))
        return problem.response(request.url.path, headers or None)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(JetcronError, on_jetcron)
    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(HTTPException, on_http)


def _allowed(app: FastAPI, request: Request) -> str:
    """The methods the request's path takes, over every route of the app (`Allow`)."""
    methods: set[str] = set()
    for route in iter_route_contexts(app.routes):
        if route.path and compile_path(route.path)[0].match(request.url.path):
            methods |= route.methods or set()
    order = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
    return ", ".join(sorted(methods, key=lambda m: (order.index(m) if m in order else 9, m)))


def _openapi(app: FastAPI) -> None:
    """The generated document plus the schemas of SCHEMAS (the schedule fields' from the one
    fields table)."""
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = plain()
            _, components = msgspec.json.schema_components(
                SCHEMAS, ref_template="#/components/schemas/{name}"
            )
            doc.setdefault("components", {}).setdefault("schemas", {}).update(components)
            doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            doc["security"] = [{"bearer": []}]
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _pages(app: FastAPI) -> None:
    """The console (a single page) and the API docs page, from the package's own files."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/v1/docs", include_in_schema=False)
    async def docs() -> Response:
        return FileResponse(STATIC / "docs.html")

    @app.get("/", include_in_schema=False)
    async def console() -> Response:
        return FileResponse(STATIC / "index.html")
