"""The results store a console page may read: verified against the audit trail, as `gxp queue` verifies it.

Verifying hashes every index row (1.5 s at 100,000 reports), so a long-running server cannot do it per request as a
one-shot CLI command does. The verdict is kept and the full verification runs again whenever the batches the store
holds change (a batch committed or replaced: checked on every request, cheaply) and at least every ``max_age_s``
(an edit of the index around the store is found within that time). One verification runs at a time; requests wait
for its verdict rather than read an index not yet checked. A failed verification is raised on every request (and
audited as an alarm by ``verified_results``) until the index matches the trail again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from gxp_assets.stores.results_protocol import ResultsStore

#: Seconds a verdict is trusted when no batch changed; `gxp serve --verify-seconds` overrides it.
DEFAULT_MAX_AGE_S = 60.0


class VerifiedResults:
    """Hands out the results store once its index has been verified recently enough (see the module docstring)."""

    def __init__(self, open_store: Callable[[], ResultsStore], verify: Callable[[], object],
                 max_age_s: float = DEFAULT_MAX_AGE_S) -> None:  # fmt: skip
        self._open, self._verify, self.max_age_s = open_store, verify, max_age_s
        self._lock = threading.Lock()
        self._state: tuple | None = None
        self._verified_at = float("-inf")
        self.verifications = 0

    def __call__(self) -> ResultsStore:
        store = self._open()
        state = tuple((s.batch, s.run_id, s.predictions_sha256, s.quarantine_sha256, s.written_at)
                      for s in store.batches())  # fmt: skip
        with self._lock:
            if state != self._state or time.monotonic() - self._verified_at >= self.max_age_s:
                self._state = None  # a failure below leaves no verdict behind
                self._verify()  # raises ResultsIntegrityError, audited, when the index does not match the trail
                self.verifications += 1
                self._state, self._verified_at = state, time.monotonic()
        return store
