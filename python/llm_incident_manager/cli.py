"""The ``lim`` command line: serve, migrate, keys, replay, config check, version."""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
from collections.abc import Sequence

import asyncpg
import msgspec

from llm_incident_manager import __version__
from llm_incident_manager.auth.keys import Role, create_key
from llm_incident_manager.clock import SystemClock
from llm_incident_manager.config import Settings, parse_duration
from llm_incident_manager.configfile import ConfigError, FileConfig, load_config
from llm_incident_manager.store.factory import make_store
from llm_incident_manager.store.protocol import Store

__all__ = ["main"]


async def _check_receivers(config: FileConfig) -> list[str]:
    """Builds every receiver's targets as ``lim serve`` would (nothing is sent) and says what each receiver
    delivers to; raises ConfigError naming the key of one that cannot work."""
    from llm_incident_manager.notify.channels import build_targets
    from llm_incident_manager.notify.config import seconds
    from llm_incident_manager.notify.runtime import person_receivers

    timeout = seconds("timeout", config.notifications.delivery.timeout)
    report = []
    for receiver in [*config.receivers, *person_receivers(config)]:
        try:
            targets = build_targets(receiver, config.notifications, config.global_, timeout)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        try:
            kinds = ", ".join(f"{t.channel.value} {t.notifier.recipient}" for t in targets) or "nothing"
            report.append(f"receiver {receiver.name!r} sends to {kinds}")
            report.extend(
                f"receiver {receiver.name!r}: {name} is an Alertmanager integration lim does not send to"
                for name in receiver.unsupported()
            )
        finally:
            for target in targets:
                await target.notifier.close()
    if config.root_receiver is None:
        report.append("no route.receiver: nothing is paged")
    return report


def granian_serve(target: str, host: str, port: int) -> None:
    """Serves the ASGI app factory ``target`` as ``lim serve`` does (benchmarks/ceiling.py serves its apps the same
    way). One worker: the dedup state lives in the process (docs/storage.md)."""
    from granian import Granian
    from granian.constants import Interfaces

    Granian(
        target, address=host, port=port, interface=Interfaces.ASGI, workers=1, factory=True, log_enabled=True,
        backlog=2048,
    ).serve()  # fmt: skip


def _serve(settings: Settings) -> int:
    from llm_incident_manager.services import tune_runtime

    tune_runtime()
    granian_serve("llm_incident_manager.app:create_app", settings.host, settings.port)
    return 0


async def _with_store(settings: Settings) -> Store:
    store = make_store(settings)
    await store.open()
    await store.migrate()
    return store


async def _migrate(settings: Settings) -> int:
    store = make_store(settings)
    await store.open()
    try:
        applied = await store.migrate()
    finally:
        await store.close()
    print(f"applied migrations: {applied}" if applied else "schema is up to date", file=sys.stderr)
    return 0


async def _keys(settings: Settings, args: argparse.Namespace) -> int:
    store = await _with_store(settings)
    try:
        if args.keys_command == "create":
            name = args.name or f"{args.role}-key"
            key, record = await create_key(store, Role(args.role), name, SystemClock().now())
            print(f"created key {record.id} ({record.role}, {record.name}); it is shown only once:", file=sys.stderr)
            print(key)
            return 0
        if args.keys_command == "list":
            print(f"{'id':36}  {'role':9}  {'prefix':6}  {'created':32}  {'revoked':32}  name")
            for rec in await store.list_keys():
                revoked = rec.revoked_at.isoformat() if rec.revoked_at else "-"
                print(f"{rec.id:36}  {rec.role:9}  {rec.prefix:6}  {rec.created_at.isoformat():32}  {revoked:32}  "
                      f"{rec.name}")  # fmt: skip
            return 0
        if await store.revoke_key(args.key_id, SystemClock().now()):
            print(f"revoked {args.key_id}", file=sys.stderr)
            return 0
        print(f"no active key {args.key_id}", file=sys.stderr)
        return 1
    finally:
        await store.close()


async def _silence(settings: Settings, args: argparse.Namespace) -> int:
    """``lim silence add|list|expire`` on the store: a running service applies the change within its refresh
    period (2 s); the timeline events of the incidents it covers are written here."""
    from datetime import UTC, datetime, timedelta

    from llm_incident_manager.api.silences import silence_out, to_silence_matchers
    from llm_incident_manager.errors import LimError
    from llm_incident_manager.routing.silences import Silencer, silence_events

    store = await _with_store(settings)
    try:
        silencer = Silencer(store)
        now = datetime.now(UTC)
        try:
            if args.silence_command == "add":
                matchers = to_silence_matchers(list(args.matchers))
                ends = now + timedelta(seconds=parse_duration(args.duration))
                silence = await silencer.create(matchers, now, ends, args.author, args.comment, now)
                await store.commit([silence_events(silence, "silence_created", await store.load_open_alerts(), now)])
                print(silence.id)
                return 0
            if args.silence_command == "expire":
                for silence_id in args.ids:
                    silence = await silencer.expire(silence_id, now)
                    await store.commit(
                        [silence_events(silence, "silence_expired", await store.load_open_alerts(), now)]
                    )
                    print(f"expired {silence_id}", file=sys.stderr)
                return 0
        except (LimError, ValueError) as exc:
            print(f"lim silence: {exc}", file=sys.stderr)
            return 2
        print(f"{'id':36}  {'state':8}  {'ends':25}  {'created by':16}  matchers / comment")
        for silence in await store.list_silences():
            out = silence_out(silence, now)
            if out.state.value == "expired" and not args.expired:
                continue
            shown = ", ".join(str(m) for m in out.matchers)
            print(f"{out.id:36}  {out.state.value:8}  {out.ends_at.isoformat(timespec='seconds'):25}  "
                  f"{out.created_by:16}  {shown}  # {out.comment}")  # fmt: skip
        return 0
    finally:
        await store.close()


async def _replay(settings: Settings, config: FileConfig, args: argparse.Namespace) -> int:
    from llm_incident_manager.correlation.replay import ReplayError, replay_file

    try:
        report = await replay_file(args.file, config, settings, top=args.top)
    except ReplayError as exc:
        print(f"lim replay: {exc}", file=sys.stderr)
        return 2
    if args.json:
        sys.stdout.write(msgspec.json.format(msgspec.json.encode(report), indent=2).decode() + "\n")
    else:
        print(report.text())
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lim", description="llm-incident-manager")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve the API with granian on $LIM_HOST:$LIM_PORT")
    sub.add_parser("migrate", help="apply pending database migrations")
    sub.add_parser("version", help="print the version")
    keys = sub.add_parser("keys", help="manage API keys").add_subparsers(dest="keys_command", required=True)
    create = keys.add_parser("create", help="create a key and print it (once) on stdout")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--name", default=None)
    keys.add_parser("list", help="list keys (never the keys themselves)")
    revoke = keys.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id")
    replay = sub.add_parser(
        "replay", help="run a recorded alert stream (JSON Lines) through the pipeline in memory and report the grouping"
    )
    replay.add_argument("file", help="JSON Lines: {format, body, received_at?, truth?} per request")
    replay.add_argument("--config", default=None, help="configuration file (default: $LIM_CONFIG)")
    replay.add_argument("--top", type=int, default=5, help="how many of the largest incidents to show")
    replay.add_argument("--json", action="store_true", help="print the report as JSON")
    silence = sub.add_parser("silence", help="manage silences").add_subparsers(dest="silence_command", required=True)
    add = silence.add_parser("add", help="silence alerts matching every matcher; prints the silence id")
    add.add_argument("matchers", nargs="+", help='Alertmanager matchers: alertname=GPUDown node=~"gpu-.*"')
    add.add_argument("--comment", "-c", required=True)
    add.add_argument("--author", "-a", default=os.environ.get("USER", "lim"))
    add.add_argument("--duration", "-d", default="1h", help="how long (30m, 2h, 1d); default 1h")
    listing = silence.add_parser("list", help="active and pending silences")
    listing.add_argument("--expired", action="store_true", help="expired ones too")
    expire = silence.add_parser("expire", help="expire silences now")
    expire.add_argument("ids", nargs="+")
    config = sub.add_parser("config", help="the configuration file").add_subparsers(
        dest="config_command", required=True
    )
    check = config.add_parser("check", help="validate a configuration file (default: $LIM_CONFIG)")
    check.add_argument("file", nargs="?", default=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "version":
        print(__version__)
        return 0
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"lim: {exc}", file=sys.stderr)
        return 2
    path = (args.config if args.command == "replay" else None) or settings.config_path
    if args.command == "config":
        path = args.file or settings.config_path
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(f"lim: {exc}", file=sys.stderr)
        return 2
    if args.command == "config":
        try:
            report = asyncio.run(_check_receivers(config))
        except ConfigError as exc:
            print(f"lim: {path}: {exc}", file=sys.stderr)
            return 2
        for line in report:
            print(f"{path}: {line}", file=sys.stderr)
        print(f"{path or '(defaults)'}: ok", file=sys.stderr)
        return 0
    if args.command == "serve":
        try:
            asyncio.run(_check_receivers(config))
        except ConfigError as exc:
            print(f"lim: {path}: {exc}", file=sys.stderr)
            return 2
        return _serve(settings)
    if args.command == "replay":
        return asyncio.run(_replay(settings, config, args))
    try:
        if args.command == "migrate":
            return asyncio.run(_migrate(settings))
        if args.command == "silence":
            return asyncio.run(_silence(settings, args))
        return asyncio.run(_keys(settings, args))
    except (OSError, sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        print(f"lim: the database at LIM_DATABASE_URL did not answer: {exc!r}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
