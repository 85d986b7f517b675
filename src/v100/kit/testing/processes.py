"""A ``v100`` command as a process of its own, for the tests that kill one (SIGKILL, mid-work)
and start it again: its own session, so that FFmpeg and any other child dies with it; its
output appended to a log, whose tail a failure shows; a loopback port of its own."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import httpx

from v100.kit.testing.net import free_port

__all__ = ["V100", "V100Process"]

V100 = str(Path(sys.executable).with_name("v100"))


class V100Process:
    """``v100 <args>`` started by ``start`` (or ``async with``), stopped at the end of the block
    if it still runs. ``serve`` commands get ``--port`` and are waited for until they answer."""

    def __init__(
        self,
        *args: str,
        env: Mapping[str, str],
        log: Path,
        port: int | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
    ) -> None:
        self.args = args
        self.env = dict(env)
        self.log = log
        self.port = port or free_port()
        self.stop_signal = stop_signal
        self.process: asyncio.subprocess.Process | None = None

    @property
    def serves(self) -> bool:
        return self.args[:1] == ("serve",)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def log_tail(self, size: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-size:] if self.log.exists() else ""

    async def start(self, *, ready: str | None = "/ready", within: float = 60.0) -> None:
        """Start it; a ``serve`` with ``ready`` returns once ``GET ready`` answers 200
        (AssertionError with the log's tail if the process exits or does not answer within
        ``within`` seconds)."""
        args = [*self.args, "--port", str(self.port)] if self.serves else list(self.args)
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                V100, *args, env=self.env, stdout=out, stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        if ready is not None and self.serves:
            await self.wait_answering(ready, within=within)

    async def wait_answering(self, path: str = "/ready", *, within: float = 60.0) -> None:
        deadline = asyncio.get_running_loop().time() + within
        async with httpx.AsyncClient(base_url=self.url, trust_env=False, timeout=5) as http:
            while True:
                if self.process is not None and self.process.returncode is not None:
                    raise AssertionError(f"v100 {self.args[0]} exited: {self.log_tail()}")
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(path)).status_code == 200:
                        return
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(
                        f"v100 {self.args[0]} did not answer {path} in {within} s: "
                        f"{self.log_tail()}"
                    )
                await asyncio.sleep(0.05)

    async def kill(self) -> None:
        """SIGKILL to the whole group: no shutdown path runs, work in flight is cut where it
        stood (FFmpeg too)."""
        await self._signal(signal.SIGKILL, within=10.0)

    async def stop(self, *, grace: float = 15.0) -> None:
        """``stop_signal`` (a clean shutdown), then SIGKILL after ``grace`` seconds."""
        if not await self._signal(self.stop_signal, within=grace):
            await self.kill()

    async def _signal(self, sig: signal.Signals, *, within: float) -> bool:
        """Send ``sig`` to the group if it still runs; whether it has ended within ``within``."""
        process = self.process
        if process is None or process.returncode is not None:
            return True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            await asyncio.wait_for(process.wait(), within)
        except TimeoutError:
            return False
        return True

    async def __aenter__(self) -> V100Process:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()
