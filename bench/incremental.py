"""What a procedure run costs when nothing changed: `tay-ninh-2023` at 50 ms a page, 4 concurrent
requests per upstream, a first (full) run then a second one, incremental, with nothing changed.

    uv run python bench/incremental.py [--database sqlite|postgres|both] [--repeat 3]

Prints the service's CPU time of the second run as a fraction of the first (target <= 10%) and
the database writes of the second run beyond its own record (target 0). The simulator runs in
its own process, so this process's CPU time (time.process_time) is the service's (and that of
the ASGI client calling it). Writes are INSERT/UPDATE/DELETE statements seen on the service's
engine; the run's own record is its row in `runs` and its `run.completed` event (semantics §0).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
from typing import Any

from procedures import fresh_database, service, simulated_upstreams
from sqlalchemy import event


class Writes:
    """INSERT, UPDATE and DELETE statements on an engine, as "VERB table"."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.seen: list[str] = []

    def __enter__(self) -> Writes:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)

    def _record(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        words = statement.split()
        verb = words[0].upper() if words else ""
        if verb in ("INSERT", "UPDATE", "DELETE"):
            table = words[1] if verb == "UPDATE" else words[2]
            self.seen.append(f"{verb} {table.strip(chr(34))}")

    def beyond_the_run_record(self) -> list[str]:
        own = ["INSERT outbox_events"]  # the run.completed event, one statement
        others = []
        for write in self.seen:
            if write.endswith(" runs"):
                continue
            if write in own:
                own.remove(write)
                continue
            others.append(write)
        return others


async def measure(env: dict[str, str], database: str) -> tuple[float, float, list[str], Any]:
    with tempfile.TemporaryDirectory() as tmp:
        url = await fresh_database(database, tmp, "recon_bench_incremental")
        async with service(env, url) as recon:
            first = await recon.run()
            with Writes(recon.app.state.engine.sync_engine) as writes:
                second = await recon.run()
    assert first.run["counts"]["mode"] == "full"
    assert second.run["counts"]["mode"] == "incremental", second.run["counts"]
    return first.cpu_s, second.cpu_s, writes.beyond_the_run_record(), second.run["counts"]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    print(
        f"command: uv run python bench/incremental.py --database {args.database} "
        f"--repeat {args.repeat}"
    )
    print("tay-ninh-2023, 50 ms a page, 4 concurrent requests per upstream; simulator in its own")
    print("process; CPU = this process (the service) during each run; medians of the repeats")
    with simulated_upstreams(50, "process") as env:
        for database in databases:
            results = [await measure(env, database) for _ in range(args.repeat)]
            first = statistics.median(r[0] for r in results)
            second = statistics.median(r[1] for r in results)
            writes = max((r[2] for r in results), key=len)
            keys = results[-1][3]["keys"]
            print(
                f"{database:8} first run CPU {first:.3f} s, second {second:.3f} s = "
                f"{second / first:.1%} of the first (target <= 10%); writes beyond the run "
                f"record: {len(writes)} {writes} (target 0); second run's keys {keys}"
            )


if __name__ == "__main__":
    asyncio.run(main())
