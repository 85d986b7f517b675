"""The uvicorn internals that ``kit.http._uvicorn`` relies on are still there, with the same
parameters and, for the methods copied into it, the same source. When one of these fails after
a uvicorn upgrade, read uvicorn's changes to ``protocols/http/httptools_impl.py`` and adapt
``src/v100/kit/http/_uvicorn.py`` (the only module that uses them), then update its lists."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
from typing import Any

import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from v100.kit.http import GuardedHttpProtocol, server_config
from v100.kit.http._uvicorn import (
    COPIED,
    UVICORN_ATTRIBUTES,
    UVICORN_INTERNALS,
    WRITTEN_FOR,
    UvicornProtocol,
)

INSTALLED = uvicorn.__version__


def _changed(what: str) -> str:
    return (
        f"{what}: kit/http/_uvicorn.py was written for uvicorn {WRITTEN_FOR} and uvicorn "
        f"{INSTALLED} is installed. Adapt that module to the new internals, then update "
        "WRITTEN_FOR and its lists."
    )


@pytest.mark.parametrize("name", sorted(UVICORN_INTERNALS))
def test_each_method_relied_on_has_the_parameters_it_had(name: str) -> None:
    method = getattr(HttpToolsProtocol, name, None)
    assert method is not None, _changed(f"HttpToolsProtocol.{name} is gone")
    parameters = tuple(inspect.signature(method).parameters)[1:]  # without self
    assert parameters == UVICORN_INTERNALS[name], _changed(
        f"HttpToolsProtocol.{name}{parameters} was {UVICORN_INTERNALS[name]}"
    )


@pytest.mark.parametrize("name", sorted(COPIED))
def test_each_copied_method_is_as_it_was_when_copied(name: str) -> None:
    source = inspect.getsource(getattr(HttpToolsProtocol, name))
    digest = hashlib.sha256(source.encode()).hexdigest()
    assert digest == COPIED[name], _changed(
        f"the source of HttpToolsProtocol.{name}, copied into UvicornProtocol, changed"
    )


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closing = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 4000)}.get(
            name, default
        )

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True


async def _app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def test_the_attributes_relied_on_exist_where_they_are_read() -> None:
    config = server_config(_app)
    config.load()
    state = ServerState()
    protocol = GuardedHttpProtocol(
        config=config, server_state=state, app_state={}, _loop=asyncio.get_running_loop()
    )
    for name in UVICORN_ATTRIBUTES["protocol"]:
        assert hasattr(protocol, name), _changed(f"HttpToolsProtocol has no {name!r} attribute")
    for name in UVICORN_ATTRIBUTES["server_state"]:
        assert hasattr(state, name), _changed(f"ServerState has no {name!r} attribute")
    transport = _Transport()
    protocol.connection_made(transport)
    for name in UVICORN_ATTRIBUTES["connected"]:
        assert hasattr(protocol, name), _changed(f"a connected protocol has no {name!r}")
    protocol.data_received(b"GET /x HTTP/1.1\r\nhost: a\r\n\r\n")
    cycle = protocol.cycle
    assert cycle is not None, _changed("a request did not start a cycle")
    for name in UVICORN_ATTRIBUTES["cycle"]:
        assert hasattr(cycle, name), _changed(f"RequestResponseCycle has no {name!r}")
    for _ in range(100):  # the app runs as a task: let it answer
        if transport.written:
            break
        await asyncio.sleep(0.01)
    assert b"".join(transport.written).startswith(b"HTTP/1.1 204 ")
    assert protocol.between_requests
    protocol.connection_lost(None)


def test_the_platform_protocols_build_on_the_one_module() -> None:
    # Nothing else subclasses uvicorn's protocol: every private use goes through _uvicorn.py.
    assert issubclass(GuardedHttpProtocol, UvicornProtocol)
    assert GuardedHttpProtocol.__bases__ == (UvicornProtocol,)
    assert UvicornProtocol.__bases__ == (HttpToolsProtocol,)
