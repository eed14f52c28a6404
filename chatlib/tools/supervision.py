"""What keeps ``chatlib-local serve`` alive, and ends it cleanly: its embedded AWS watched and
brought back when it dies (:class:`Supervisor`), and Ctrl-C waited for without a lock a signal
handler could deadlock on (:class:`StopRequest`).

Kept apart from :mod:`.serve`, which says what serve starts and prints; this module says only
what happens when something ends. Errors are raised as :class:`chatlib.errors.AWSLost`,
whose message is the one line serve prints before it stops with :data:`EXIT_AWS_LOST`.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

from chatlib.errors import AWSLost

__all__ = ["EXIT_AWS_LOST", "RESTARTS_ALLOWED", "SERVICE_RESTART", "StopRequest", "Supervisor"]

#: ``serve``'s exit status when the embedded AWS ended and could not be brought back.
EXIT_AWS_LOST = 3
#: The embedded AWS is restarted at most this many times in :data:`RESTART_WINDOW_SECONDS`
#: (a machine that keeps killing it is better told so than fed restarts).
RESTARTS_ALLOWED = 3
RESTART_WINDOW_SECONDS = 600.0
#: RFC 6455's "Service Restart": a client such as the browser chat page reconnects.
SERVICE_RESTART = 1012


class Supervisor:
    """Watch the embedded AWS ``serve`` started in its own process, and bring the chat back
    when that process ends (a crash, or the system ending it under memory pressure).

    Without it the gateway kept serving: every handshake got 500 and the terminal filled with
    tracebacks, never saying why. :meth:`check` runs on the main thread between two looks at
    :class:`StopRequest` (so no lock is shared with a signal handler), and when the process
    has ended it says so in one line, starts the embedded AWS again on the same port, deploys
    the same step with moto's ids seeded as before (``redeploy``: the same API id, so every
    URL and join link learners hold works again; ``publish`` records where the chat is and
    says whether that moved, ``announce`` prints the new URLs if so), puts the local signing secret
    back (tokens minted before still verify) and closes the connections that were open
    (their rows went with the old AWS) with 1012, so their clients reconnect.
    """

    def __init__(
        self,
        stack: Any,
        say: Callable[[str], None],
        step: str,
        *,
        redeploy: Callable[[], dict[str, str]],
        publish: Callable[[dict[str, str]], bool],
        announce: Callable[[dict[str, str]], None],
    ) -> None:
        self.stack, self.say, self.step = stack, say, step
        self.redeploy, self.publish, self.announce = redeploy, publish, announce
        self.restarts: list[float] = []

    def check(self) -> None:
        status = self.stack.aws_exit_status()
        if status is None:
            return
        port = self.stack.aws_endpoint_url.rsplit(":", 1)[1]
        self.say(
            f"the embedded AWS (moto, pid {self.stack.aws_pid()}) has stopped "
            f"({_how_it_ended(status)}): starting it again on port {port} and deploying the "
            f"{self.step} step again"
        )
        began = time.monotonic()
        self.restarts = [t for t in self.restarts if began - t < RESTART_WINDOW_SECONDS]
        if len(self.restarts) >= RESTARTS_ALLOWED:
            raise AWSLost(
                f"the embedded AWS stopped {len(self.restarts) + 1} times within "
                f"{RESTART_WINDOW_SECONDS / 60:.0f} minutes (is this machine short of memory?)"
            )
        self.restarts.append(began)
        try:
            outputs = self.stack.restart_aws(self.redeploy)
        except Exception as error:  # any failure here ends serve with one line
            raise AWSLost(
                f"the embedded AWS stopped and could not be started again ({_one_line(error)})"
            ) from None
        self.stack.refresh()
        try:
            count = self.stack.close_connections(SERVICE_RESTART, "the embedded AWS restarted")
            closed = f"{count} open connection(s) closed with {SERVICE_RESTART} to reconnect"
        except Exception as error:  # the chat is back all the same
            closed = f"the connections open before could not be closed ({_one_line(error)})"
        moved = self.publish(outputs)
        self.say(
            f"the chat is back ({time.monotonic() - began:.1f} s), "
            + ("at NEW addresses (below)" if moved else "at the same addresses")
            + (", tokens minted before still valid" if self.step == "auth" else "")
            + f"; {closed}"
        )
        if moved:
            self.announce(outputs)


def _one_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def _how_it_ended(status: int) -> str:
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exit status {status}"


class StopRequest:
    """Ctrl-C or SIGTERM, noted by a signal handler and waited for by the main thread.

    Not a ``threading.Event``: Python runs a handler in the main thread between two bytecodes,
    possibly while that thread holds the lock inside ``Event.wait``, and ``Event.set`` takes the
    same (non-reentrant) lock, so the handler would wait for itself forever. That hung one
    ``serve`` in a CI run. The handler here only assigns an attribute; the main thread sleeps
    in short steps (a signal may be delivered to any thread, and nothing else would wake it).
    """

    def __init__(self, poll_seconds: float = 0.2) -> None:
        self.poll_seconds = poll_seconds
        self.signal: int | None = None

    def handle(self, signum: int, frame: Any) -> None:
        self.signal = signum

    def wait(self, check: Callable[[], None] | None = None) -> int:
        """The signal, once one came; ``check`` runs (on this thread) after each nap."""
        while self.signal is None:
            time.sleep(self.poll_seconds)
            if check is not None and self.signal is None:
                check()
        return self.signal
