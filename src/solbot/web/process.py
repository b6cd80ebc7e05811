"""`solbot run --web`: the dashboard as a process of its own beside the loop.

In the loop's process a page would share the interpreter with a fan-out tick of thousands of
users: it waited for the tick, or, on a thread, slowed it by 13 % (the GIL;
`benchmarks/dashboard.py`). As a process it costs the tick nothing it can measure, and the two
share only the database: the loop's heartbeat (`store.loop_beat`) gives the pages the loop's
counters, prices and clock, and a close asked from a page is a row the loop takes at its next
tick (`store.close_requests`), exactly as with `solbot web` beside a bot.

The child (`cli.web_child`) gets the run's settings over a pipe it keeps open, so it stops
when the run stops it or dies in any way. A child that dies while the run goes on is started
again, a little later each time; the run never stops for its dashboard. One that lives but
answers nothing (a deadlock, a SIGSTOP: it keeps its port) is found by a probe of its address
and killed, which is a crash like any other."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import pickle
import signal
import sys

from solbot.asgi_serving import GRACE_SECONDS
from solbot.config import Settings
from solbot.errors import EnvironmentFaultError, UserError

log = logging.getLogger(__name__)

CHILD = "solbot.cli.web_child"
START_SECONDS = 60.0  # an interpreter, FastAPI and the database: seconds on a busy machine
RESTART_SECONDS = (2.0, 60.0)  # the first delay after a crash, and the longest
LENGTH_BYTES = 8  # `cli.web_child.LENGTH_BYTES`
# The loop first: on a busy machine the pages wait a little, not the tick. Beside 150 open
# dashboards on 2 cores the child took some 6 % from the tick (`benchmarks/dashboard.py`).
NICENESS = 5
PROBE_EVERY = 30.0  # seconds between two looks at whether the child answers
PROBE_TIMEOUT = 10.0  # a page of ours answers in milliseconds; the busiest in under one
PROBE_MISSES = 3  # unanswered looks in a row: it is hung
PROBE_PATH = "/api/v1/alive"  # no database, no session: the process itself


class DashboardProcess:
    def __init__(
        self,
        settings: Settings,
        port: int | None = None,
        *,
        probe_every: float = PROBE_EVERY,
        probe_timeout: float = PROBE_TIMEOUT,
        niceness: int = NICENESS,
    ) -> None:
        self.settings = settings
        self.niceness = niceness
        self.probe_every = probe_every
        self.probe_timeout = probe_timeout
        self.port = settings.web_port if port is None else port
        self.url: str | None = None  # while it serves
        self.restarts = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    async def start(self) -> None:
        """Start the child and wait until it listens; `UserError` with its one line when the
        operator must fix something (a taken port, plain http beyond this machine)."""
        self._stopping = False
        await self._spawn()
        self._tasks.append(asyncio.create_task(self._supervise(), name="dashboard-supervisor"))
        self._tasks.append(asyncio.create_task(self._probe(), name="dashboard-probe"))

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self._end_child()
        self.url = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def _spawn(self) -> None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            CHILD,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # a Ctrl-C reaches the run, which stops its dashboard
        )
        assert proc.stdin is not None
        assert proc.stdout is not None
        assert proc.stderr is not None
        self._proc = proc
        payload = pickle.dumps((self.settings, self.port, self.niceness))
        try:
            proc.stdin.write(len(payload).to_bytes(LENGTH_BYTES, "big") + payload)
            await proc.stdin.drain()
            async with asyncio.timeout(START_SECONDS):
                line = await proc.stdout.readline()
        except (TimeoutError, ConnectionError):
            line = b""
        if not line:
            await self._refused(proc)
        self.url = str(json.loads(line)["url"])
        self._tasks.append(asyncio.create_task(self._relay(proc.stderr), name="dashboard-log"))

    async def _refused(self, proc: asyncio.subprocess.Process) -> None:
        """The child did not start: its one line, as the run's own error."""
        await self._end_child()
        assert proc.stderr is not None
        said = (await proc.stderr.read()).decode(errors="replace").strip().splitlines()
        if said:
            log.warning("the dashboard did not start (exit %s): %s", proc.returncode, said)
        if proc.returncode == 2 and said:
            raise UserError(said[-1])
        raise EnvironmentFaultError(
            f"the dashboard did not start ({said[-1] if said else f'exit {proc.returncode}'}); "
            f"the log ({self.settings.log_path}) has more"
        )

    async def _relay(self, stream: asyncio.StreamReader) -> None:
        """What the child says on stderr goes to the run's log (it says nothing when well)."""
        while line := await stream.readline():
            log.warning("dashboard: %s", line.decode(errors="replace").rstrip())

    async def _supervise(self) -> None:
        delay = RESTART_SECONDS[0]
        loop = asyncio.get_running_loop()
        while not self._stopping:
            assert self._proc is not None
            began = loop.time()
            code = await self._proc.wait()
            self.url = None
            if code == 0 or self._stopping:
                # It was told to stop, by us or by someone else (systemd stopping the unit
                # signals every process of it): not a crash to recover from.
                log.info("the dashboard stopped (exit %s)", code)
                return
            if loop.time() - began > RESTART_SECONDS[1]:  # it served a while: not a crash loop
                delay = RESTART_SECONDS[0]
            while not self._stopping:
                log.warning(
                    "the dashboard stopped (exit %s); starting it again in %g s", code, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RESTART_SECONDS[1])
                try:
                    await self._spawn()
                except Exception as exc:  # never the run's end: tried again, later
                    log.warning("the dashboard could not start again: %s", exc)
                    continue
                self.restarts += 1
                break

    async def _probe(self) -> None:
        """Kill a child that has not answered `PROBE_MISSES` looks in a row (`_supervise`
        starts it again). A child starting, or already gone, is not looked at."""
        import httpx  # the run imports this module before it knows it serves a dashboard

        misses, looked_at = 0, None
        async with httpx.AsyncClient(timeout=self.probe_timeout, trust_env=False) as http:
            while not self._stopping:
                await asyncio.sleep(self.probe_every)
                proc, url = self._proc, self.url
                if proc is not looked_at:  # a new child: its own count
                    misses, looked_at = 0, proc
                if proc is None or url is None or proc.returncode is not None:
                    continue
                try:
                    await http.get(_local(url) + PROBE_PATH)
                    misses = 0  # any answer: it is alive (a database outage is not a hang)
                    continue
                except httpx.HTTPError as exc:
                    misses += 1
                    why = type(exc).__name__
                if misses < PROBE_MISSES or proc is not self._proc:
                    continue
                log.warning(
                    "the dashboard (pid %s) has not answered %d looks in a row (%s): killed, "
                    "to be started again",
                    proc.pid,
                    misses,
                    why,
                )
                misses = 0
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()

    async def _end_child(self) -> None:
        """Close its pipe (it stops at the EOF) and ask it to stop; kill it if it will not."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(GRACE_SECONDS + 3):
                await proc.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


def _local(url: str) -> str:
    """The child's address as this machine reaches it (one listening on every address is
    asked on loopback)."""
    return url.replace("//0.0.0.0:", "//127.0.0.1:").replace("//[::]:", "//[::1]:")
