"""The API load benchmark's server: embedded store, a known tenant key, couriers, real uvicorn."""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
from collections.abc import Iterator

import uvicorn

from api.app import create_app
from api.settings import Settings
from store.memory import MemoryStore

TENANT_ID = "bench"


def courier_ids(count: int) -> list[str]:
    """The ids the server creates and the load generator drives, in the same order."""
    return [f"cou{i:06d}" for i in range(count)]


def build_store(couriers: int, api_key: str) -> MemoryStore:
    """An in-memory store with one tenant, its API key (known to the caller) and couriers."""
    store = MemoryStore()
    store.create_tenant("bench", tenant_id=TENANT_ID)
    store.create_api_key(TENANT_ID, "bench", secret=api_key)
    for cid in courier_ids(couriers):
        store.create_courier(TENANT_ID, courier_id=cid, vehicle="bike")
    return store


@contextlib.contextmanager
def _profiled(path: str | None) -> Iterator[None]:
    if path is None:
        yield
        return
    profile = cProfile.Profile()
    profile.enable()
    try:
        yield
    finally:
        profile.disable()
        profile.dump_stats(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--couriers", type=int, default=2000)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--token-secret", required=True)
    parser.add_argument("--coalesce", type=float, default=0.05, help="seconds per console tick")
    parser.add_argument("--cprofile", help="write a cProfile of the server to this path")
    parser.add_argument(
        "--gc",
        choices=["default", "tuned", "off"],
        default="default",
        help="tuned: start-up objects frozen, full collections rarer; off: no collector",
    )
    args = parser.parse_args(argv)
    settings = Settings(
        token_secret=args.token_secret,
        coalesce_interval_s=args.coalesce,
        dispatch_auto=False,
        ws_send_queue=10_000,
    )
    app = create_app(settings, store=build_store(args.couriers, args.api_key))
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        log_level="warning",
    )
    if args.gc == "tuned":
        # full collections walk every live connection and cached message: hundreds of ms
        gc.freeze()
        gc.set_threshold(50_000, 20, 1000)
    elif args.gc == "off":
        gc.disable()
    with _profiled(args.cprofile):
        uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
