"""HTTP for every service: the app factory, the dependencies endpoints use, problem+json
rendering, and the client services use to call each other."""

from v100.kit.http._app import (
    Access,
    Component,
    DatabaseSpec,
    Runtime,
    ServiceSpec,
    StorageSpec,
    create_service_app,
)
from v100.kit.http._bodies import refusing_null
from v100.kit.http._client import ServiceClient
from v100.kit.http._deps import (
    Authorized,
    PrincipalDep,
    Provided,
    ProvidedIfAny,
    RuntimeDep,
    ScopedRoute,
    SessionDep,
    SettingsOf,
    requires,
    runtime_of,
)
from v100.kit.http._listing import Listing
from v100.kit.http._middleware import RequestContextMiddleware
from v100.kit.http._problems import VENDOR_NOT_CONFIGURED, problem_response
from v100.kit.http._protocol import GuardedHttpProtocol, HttpLimits
from v100.kit.http._rules import MAX_HEADER_COUNT, broken_rule
from v100.kit.http._server import server_config
from v100.kit.http._uvicorn import AnswerCycle

__all__ = [
    "MAX_HEADER_COUNT",
    "VENDOR_NOT_CONFIGURED",
    "Access",
    "AnswerCycle",
    "Authorized",
    "Component",
    "DatabaseSpec",
    "GuardedHttpProtocol",
    "HttpLimits",
    "Listing",
    "PrincipalDep",
    "Provided",
    "ProvidedIfAny",
    "RequestContextMiddleware",
    "Runtime",
    "RuntimeDep",
    "ScopedRoute",
    "ServiceClient",
    "ServiceSpec",
    "SessionDep",
    "SettingsOf",
    "StorageSpec",
    "broken_rule",
    "create_service_app",
    "problem_response",
    "refusing_null",
    "requires",
    "runtime_of",
    "server_config",
]
