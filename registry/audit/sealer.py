"""The background sealer: one daemon thread per process that runs the sequencer every few seconds.

Several processes (gunicorn workers, registry instances) may each run one: the sequencer lock
lets one seal at a time and the others find nothing left to do. An entry stays unsealed for at
most about ``audit_seal_interval`` seconds plus one pass (a backlog is sealed in consecutive
batches without waiting); without a background sealer, until the next ``registry audit seal``,
verification or export.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from registry.actor import Actor
from registry.audit.chain import SealResult
from registry.services.audit import seal_entries

log = logging.getLogger("registry.audit")
SEAL_BATCH = 5000


class BackgroundSealer:
    def __init__(self, registry: Any, interval: float):
        self.registry = registry
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="audit-sealer", daemon=True)

    def run_once(self) -> SealResult:
        """Seal everything pending, batch by batch, each batch in its own short transaction."""
        reg = self.registry
        total = SealResult()
        while True:
            with reg.sessions() as session:
                step = seal_entries(session, actor=Actor.system("audit-sealer"), clock=reg.clock,
                                    signer=reg.signer,
                                    checkpoint_every=reg.settings.audit_checkpoint_every,
                                    checkpoint_minutes=reg.settings.audit_checkpoint_minutes,
                                    batch=SEAL_BATCH)
                session.commit()
            total.sealed += step.sealed
            total.head_seq, total.head_hash = step.head_seq, step.head_hash
            total.checkpoints += step.checkpoints
            if step.sealed < SEAL_BATCH:
                return total

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - keep sealing after a database hiccup
                log.exception("audit sealer pass failed; retrying in %.1fs", self.interval)

    def start(self) -> "BackgroundSealer":
        self._thread.start()
        return self

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        self._thread.join(timeout)


def start_background_sealer(app: Any) -> BackgroundSealer | None:
    """Start this process's sealer if the settings ask for one; kept on the app's extensions."""
    reg = app.extensions["registry"]
    interval = reg.settings.audit_seal_interval
    if interval <= 0:
        return None
    sealer = BackgroundSealer(reg, interval).start()
    app.extensions["audit_sealer"] = sealer
    return sealer
