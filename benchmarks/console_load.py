"""The review console under load: concurrent reviewers against `gxp serve` on loopback and a large work queue.

    python benchmarks/console_load.py            # 100,000 PRIORITY/REVIEW reports, 20 reviewers for 60 s
    python benchmarks/console_load.py --quick    # 5,000 reports, 4 reviewers for 10 s

A temporary GXP_HOME gets a roles file of reviewers (pv_physician), each with their own key and passphrase, and a
queue seeded through the results store's own writer (demo-corpus texts, explanations drawn from each text, due dates
spread so that some are overdue), each batch recorded in the audit trail as scoring records it. `gxp serve` runs as a
real uvicorn process. Each reviewer is a thread with its own HTTP client and cookies: it logs in with its user id and
passphrase, then loops: a queue page (no filter, or a source, a batch or a due date, pages 1 to 3), one report of it,
and every third time an adjudication of that report with the page's CSRF token.

The reference, measured in the same run, is one reviewer alone for a few seconds before the load: the table gives
p50/p95/p99 per page type for both, and the RESULT line the load's p95 over the reference's. An error is any answer
but the expected one (a 500, a refusal, a dropped connection); the run fails (exit 1) if there is any.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import random
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
FULL = {"reports": 100_000, "reviewers": 20, "seconds": 60.0, "reference_seconds": 10.0, "batches": 10}
QUICK = {"reports": 5_000, "reviewers": 4, "seconds": 10.0, "reference_seconds": 4.0, "batches": 2}
KINDS = ("login", "queue", "report", "adjudicate")
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
REPORT_LINK = re.compile(r'<a href="/reports/([^"]+)">')


def _people(home: Path, reviewers: int) -> tuple[Path, Path, dict[str, str]]:
    """A roles file of reviewers and their keys (each with its own passphrase); returns roles, key folder, secrets."""
    import yaml

    from gxp_assets.governance.signatures import create_key_pair

    keys, passphrases, users = home / "console-keys", {}, []
    keys.mkdir(parents=True)
    for number in range(1, reviewers + 1):
        user_id = f"reviewer{number:02d}"
        passphrases[user_id] = secrets.token_urlsafe(18)
        pem, public_line = create_key_pair(passphrases[user_id])
        (keys / f"{user_id}.pem").write_bytes(pem)
        users.append({"user_id": user_id, "printed_name": f"Reviewer {number:02d} (BENCHMARK)",
                      "roles": ["pv_physician"], "public_key": public_line})  # fmt: skip
    roles = home / "roles-benchmark.yaml"
    roles.write_text(yaml.safe_dump({"users": users}, sort_keys=False))
    return roles, keys, passphrases


def _scored(texts: pd.DataFrame, batch: str, start: int, now: datetime, rng: np.random.Generator) -> pd.DataFrame:
    """Scored rows of the demo texts as scoring writes them: PRIORITY or REVIEW, with words of the text as the
    explanation and received times over the last 30 days (the older ones are overdue)."""
    import numpy as np
    import pandas as pd

    n = len(texts)
    received = pd.Series(pd.Timestamp(now) - pd.to_timedelta(rng.uniform(0, 30 * 24, n), unit="h"))
    p_ae = rng.uniform(0.15, 0.99, n)

    def explanation(text: str) -> str:
        words = [w for w in re.findall(r"[a-z]{4,}", text.lower())][:3]
        return json.dumps([{"feature": w, "contribution": round(0.4 / (k + 1), 3)} for k, w in enumerate(words)])

    return pd.DataFrame({
        "batch": batch, "report_id": [f"{batch}-{start + k:07d}" for k in range(n)],
        "input_sha256": [f"{start + k:064x}" for k in range(n)], "p_ae": p_ae,
        "prediction_set": np.where(p_ae > 0.7, "{1}", "{0,1}"), "triage": np.where(p_ae > 0.7, "PRIORITY", "REVIEW"),
        "triage_reason": np.where(p_ae > 0.7, "AE not excluded at 95 %; no-AE excluded", "both classes possible"),
        "explanation": [explanation(t) for t in texts["text"]], "model_version": "benchmark-model",
        "plan_version": "pv-triage 1.0", "run_id": f"seed-{batch}", "scored_at": pd.Timestamp(now),
        "raw_score": p_ae, "document_id": texts["document_id"].to_numpy(), "source": texts["source"].to_numpy(),
        "text": texts["text"].to_numpy(), "product": texts["product"].to_numpy(),
        "received_at": received.astype("datetime64[us, UTC]"),
        "due_at": (received + pd.Timedelta(days=15)).astype("datetime64[us, UTC]"),
        "source_file": f"landing/{batch}.csv", "source_line": start + np.arange(n) + 2,
        "intake_seq": start + np.arange(n),
    })  # fmt: skip


def seed(reports: int, batches: int) -> list[str]:
    """``reports`` PRIORITY/REVIEW rows in ``batches`` batches through the results store, each batch's facts in the
    audit trail (what readers verify against); returns the batch names."""
    import numpy as np
    import pandas as pd

    from gxp_assets.core.demo_data import demo_batch
    from gxp_assets.stores import audit_trail, results_store
    from gxp_assets.stores.results_integrity import RESULTS_ACTION

    store, trail, rng, now = results_store(), audit_trail(), np.random.default_rng(7), datetime.now(UTC)
    texts = pd.concat([demo_batch(max(10, reports // 3), seed, received_until=now) for seed in (1, 2)])
    texts = texts.sample(n=reports, replace=len(texts) < reports, random_state=7).reset_index(drop=True)
    names, per = [], -(-reports // batches)
    started = time.perf_counter()
    for number in range(batches):
        batch = f"landing-{number + 1:02d}"
        part = texts.iloc[number * per:(number + 1) * per]
        with store.writer(batch, f"seed-{batch}", use_case="ae_triage",
                          on_commit=lambda facts, b=batch: trail.append("system", RESULTS_ACTION, b, facts)) as writer:
            for start in range(0, len(part), 50_000):
                writer.add(_scored(part.iloc[start:start + 50_000], batch, start, now, rng), pd.DataFrame())
        names.append(batch)
        print(f"  seeded {batch}: {min((number + 1) * per, reports):,} of {reports:,} reports, "
              f"{time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
    return names


@dataclass
class Tally:
    """Durations (s) per page type and errors, shared by the reviewer threads."""

    durations: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, seconds: float, error: str | None) -> None:
        with self.lock:
            self.durations[kind].append(seconds)
            if error:
                self.errors.append(f"{kind}: {error}")


class Reviewer:
    """One person at a browser: own cookies, own login, the console's forms with their CSRF tokens."""

    def __init__(self, url: str, user_id: str, passphrase: str, sources: list[str], batches: list[str],
                 tally: Tally, seed: int) -> None:  # fmt: skip
        self.url, self.user_id, self.passphrase, self.tally = url, user_id, passphrase, tally
        self.sources, self.batches, self.rng = sources, batches, random.Random(seed)
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),  # loopback: never via a proxy
                                                  urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def _call(self, kind: str, path: str, form: dict[str, str] | None = None, expect: str = "") -> str | None:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        started, error, body = time.perf_counter(), None, None
        try:
            with self.opener.open(self.url + path, data=data, timeout=120) as response:
                body = response.read().decode("utf-8", errors="replace")
            if expect and expect not in body:
                error = f"{path}: expected {expect!r} in the page"
        except urllib.error.HTTPError as failed:
            error = f"{path}: HTTP {failed.code} {failed.read()[:300]!r}"
        except OSError as failed:
            error = f"{path}: {failed!r}"
        self.tally.add(kind, time.perf_counter() - started, error)
        return None if error else body

    def log_in(self) -> bool:
        page = self._call("login", "/login")
        token = CSRF.search(page or "")
        if not token:
            return False
        form = {"csrf": token.group(1), "user_id": self.user_id, "passphrase": self.passphrase}
        return self._call("login", "/login", form, expect="Work queue") is not None  # 303 to the queue, followed

    def work(self, until: float, turns: int | None = None, adjudicate_every: int = 3) -> None:
        """Log in, then turns until ``until`` (monotonic) or ``turns`` are done; every ``adjudicate_every``-th turn
        adjudicates the report it opened."""
        if not self.log_in():
            return
        turn = 0
        while time.monotonic() < until and (turns is None or turn < turns):
            turn += 1
            query = self.rng.choice([{}, {"source": self.rng.choice(self.sources)},
                                     {"batch": self.rng.choice(self.batches)},
                                     {"due_before": (datetime.now(UTC) - timedelta(days=self.rng.randint(0, 14)))
                                      .date().isoformat()}])  # fmt: skip
            query["page"] = str(self.rng.randint(1, 3))
            page = self._call("queue", "/queue?" + urllib.parse.urlencode(query), expect="Work queue")
            links = REPORT_LINK.findall(page or "")
            if not links:
                continue
            report = self.rng.choice(links)
            shown = self._call("report", f"/reports/{report}", expect="Why this triage")
            token = CSRF.findall(shown or "")
            if turn % adjudicate_every == 0 and token:
                form = {"csrf": token[-1], "verdict": self.rng.choice(["ae", "not_ae"]),
                        "reason": "benchmark: read the report and its source"}  # fmt: skip
                self._call("adjudicate", f"/reports/{report}/adjudicate", form, expect="Adjudication recorded")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(keys: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    with log.open("wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "gxp_assets.cli", "serve", "--port", str(port), "--keys",
                                   str(keys)], env=os.environ.copy(), stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gxp serve exited: {log.read_text()[-2000:]}")
        try:
            with opener.open(url + "/login", timeout=2):
                return server, url
        except OSError:
            time.sleep(0.3)
    server.kill()
    raise SystemExit("gxp serve did not answer within 120 s")


def run_phase(url: str, people: dict[str, str], sources: list[str], batches: list[str], seconds: float,
              label: str) -> Tally:  # fmt: skip
    tally = Tally()
    until = time.monotonic() + seconds
    threads = [threading.Thread(target=Reviewer(url, user, secret, sources, batches, tally, k).work, args=(until,))
               for k, (user, secret) in enumerate(people.items())]  # fmt: skip
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        time.sleep(min(5.0, max(0.5, until - time.monotonic())))
        done = sum(len(values) for values in tally.durations.values())
        print(f"  {label}: {done:,} requests, {len(tally.errors)} errors, "
              f"{max(0.0, until - time.monotonic()):.0f} s left", flush=True)  # fmt: skip
    for thread in threads:
        thread.join()
    return tally


def _quantile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 reports, 4 reviewers, 10 s")
    parser.add_argument("--reports", type=int)
    parser.add_argument("--reviewers", type=int)
    parser.add_argument("--seconds", type=float)
    args = parser.parse_args()
    settings = {**(QUICK if args.quick else FULL)}
    settings.update({k: v for k, v in (("reports", args.reports), ("reviewers", args.reviewers),
                                       ("seconds", args.seconds)) if v})  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="gxp-console-load-") as folder:
        home = Path(folder)
        os.environ.update(GXP_HOME=str(home / "gxp"), DAGSTER_HOME=str(home / "dagster"), GXP_ENV="local")
        (home / "dagster").mkdir()
        (home / "dagster" / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
        print(f"seeding {settings['reports']:,} reports, {settings['reviewers']} reviewers' keys", flush=True)
        roles, keys, people = _people(home, settings["reviewers"])
        os.environ["GXP_ROLES"] = str(roles)
        batches = seed(settings["reports"], settings["batches"])
        sources = ["social_media", "literature", "call_centre"]
        server, url = _serve(keys, home / "serve.log")
        try:
            first = dict(list(people.items())[:1])
            reference = run_phase(url, first, sources, batches, settings["reference_seconds"], "reference (1)")
            load = run_phase(url, people, sources, batches, settings["seconds"], f"load ({settings['reviewers']})")
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        report(settings, reference, load, os.cpu_count() or 0, (home / "serve.log").read_text()[-3000:])


def report(settings: dict, reference: Tally, load: Tally, cpus: int, server_log: str) -> None:
    print(f"\n{settings['reports']:,} reports in the queue; {settings['reviewers']} reviewers for "
          f"{settings['seconds']:.0f} s on {cpus} CPU(s) (load average {os.getloadavg()[0]:.1f})")  # fmt: skip
    print(f"{'page':<11}{'phase':<10}{'requests':>9}{'errors':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    result: dict[str, float | int] = {"reports": settings["reports"], "reviewers": settings["reviewers"],
                                      "seconds": settings["seconds"]}  # fmt: skip
    for kind in KINDS:
        for phase, tally in (("alone", reference), ("load", load)):
            values = tally.durations.get(kind, [])
            errors = sum(error.startswith(f"{kind}:") for error in tally.errors)
            p50, p95, p99 = (1000 * _quantile(values, q) for q in (0.5, 0.95, 0.99))
            print(f"{kind:<11}{phase:<10}{len(values):>9}{errors:>8}{p50:>9.1f}{p95:>9.1f}{p99:>9.1f}")
            if phase == "load":
                result[f"{kind}_p95_ms"] = p95
                result[f"{kind}_requests"] = len(values)
        alone = 1000 * _quantile(reference.durations.get(kind, []), 0.95)
        result[f"{kind}_p95_vs_alone"] = result[f"{kind}_p95_ms"] / alone if alone == alone and alone else float("nan")
    total = sum(len(values) for values in load.durations.values())
    result.update(requests=total, requests_per_s=total / settings["seconds"], errors=len(load.errors) + len(
        reference.errors))  # fmt: skip
    for error in (reference.errors + load.errors)[:10]:
        print(f"  error: {error}")
    if result["errors"] and "Traceback" in server_log:
        print("server log (end):\n" + server_log)
    print("RESULT " + " ".join(f"{key}={value:.4f}" if isinstance(value, float) else f"{key}={value}"
                               for key, value in result.items()))  # fmt: skip
    if result["errors"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
