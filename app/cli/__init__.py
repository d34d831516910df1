"""``workflow-search``: serve, migrate, seed, backfill, dlq, retention and config; flags win over the environment."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Sequence

import msgspec

from app.lib.logs import configure_logging
from app.lib.settings import Settings, SettingsError, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workflow-search",
        description="Remediation workflow catalog and search (kubernaut Data Storage v1 compatible).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080)")
    serve.add_argument("--workers", type=int, help="processes sharing the listener, each a whole service (default 1)")

    migrate = commands.add_parser("migrate", help="apply database migrations (or roll them back)")
    migrate.add_argument("--downgrade", metavar="REVISION", help="roll back to REVISION ('base' for none)")

    seed = commands.add_parser("seed", help="load data into the catalog")
    seed.add_argument("--demo", action="store_true", required=True, help="the demo catalog, if the catalog is empty")

    backfill = commands.add_parser("backfill", help="embed workflows whose embedding is missing or stale")
    backfill.add_argument("--batch-size", type=int, default=64, help="workflows per batch and commit (default 64)")
    backfill.add_argument("--limit", type=int, help="stop after this many workflows")
    backfill.add_argument("--model", help="model id; must be the configured one (the default model)")
    backfill.add_argument("--json", action="store_true", help="print a JSON summary instead of a progress bar")

    token = commands.add_parser("token", help="make a new access token and the entry that configures it")
    token.add_argument("action", choices=["new"], help="new: a random token, shown once")
    token.add_argument("--name", required=True, help="who the token is for")
    token.add_argument("--scopes", default="read", help="comma-separated: read, write, admin (default read)")

    config = commands.add_parser("config", help="print the effective configuration (passwords masked)")
    config.add_argument("--json", action="store_true", help="print JSON")

    dlq = commands.add_parser("dlq", help="see and replay the dead letter queue of audit writes")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    status = dlq_commands.add_parser("status", help="queued records and dead letters per stream")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.add_argument("--show", type=int, default=0, metavar="N", help="also list up to N dead letters per stream")
    replay = dlq_commands.add_parser("replay", help="store everything queued now, whatever its retry schedule")
    replay.add_argument("--dead-letter", action="store_true", help="first send the dead letters back to the queue")
    replay.add_argument("--json", action="store_true", help="print JSON")

    retention = commands.add_parser("retention", help="remove audit events past their category's retention")
    retention_commands = retention.add_subparsers(dest="retention_command", required=True, metavar="ACTION")
    run = retention_commands.add_parser("run", help="drop whole months, delete the rest; never a held event")
    run.add_argument("--dry-run", action="store_true", help="say what would go, remove nothing")
    run.add_argument("--json", action="store_true", help="print JSON")
    run.add_argument("--batch-size", type=int, default=1000, help="events per delete and commit (default 1000)")

    for command in (serve, migrate, seed, backfill, status, replay, config, run):
        command.add_argument("--data-dir", help="where the embedded database lives")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings().with_overrides(
            data_dir=getattr(args, "data_dir", None),
            host=getattr(args, "host", None),
            port=getattr(args, "port", None),
            workers=getattr(args, "workers", None),
        )
    except SettingsError as error:
        print(f"workflow-search: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    return _run(args, settings)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "dlq":
        from app.cli.dlq import run_dlq_command  # noqa: PLC0415

        return run_dlq_command(settings, args)
    if args.command == "retention":
        from app.cli.retention import run_retention_command  # noqa: PLC0415

        return run_retention_command(settings, args)
    if args.command == "backfill":
        from app.cli.backfill import run_backfill_command  # noqa: PLC0415 - loads the model

        return run_backfill_command(settings, args)
    commands: dict[str, Callable[[], int]] = {
        "config": lambda: _print_config(settings, as_json=args.json),
        "serve": lambda: _serve(settings),
        "migrate": lambda: _migrate(settings, args.downgrade),
        "seed": lambda: asyncio.run(_seed_demo(settings)),
        "token": lambda: _new_token(args.name, args.scopes),
    }
    return commands[args.command]()


def _new_token(name: str, scopes: str) -> int:
    from app.http.access import AccessToken, new_token  # noqa: PLC0415

    try:
        entry = msgspec.convert({"name": name, "sha256": "0" * 64, "scopes": scopes.split(",")}, AccessToken)
    except msgspec.ValidationError as error:
        print(f"workflow-search: --name/--scopes: {error}", file=sys.stderr)
        return 2
    token, entry = new_token(entry.name, entry.scopes)
    print(f"token (shown once; give it to the client): {token}")
    print(f"configuration entry (add to the JSON list): {msgspec.json.encode(entry).decode()}")
    return 0


def _print_config(settings: Settings, *, as_json: bool) -> int:
    values = settings.effective()
    if as_json:
        print(json.dumps(values, indent=2))
    else:
        for name, value in values.items():
            shown = ",".join(f"{item:g}" for item in value) if isinstance(value, tuple) else value
            print(f"{name}={'' if shown is None else shown}")
    return 0


def _serve(settings: Settings) -> int:
    from app.audit.chain import ChainKeyError, load_chain_key  # noqa: PLC0415
    from app.cli.server import run_server  # noqa: PLC0415 - only the serve command needs uvicorn
    from app.http.access import AccessConfigError, load_tokens  # noqa: PLC0415
    from app.lib.request_context import is_loopback  # noqa: PLC0415

    try:
        tokens = load_tokens(settings.auth_tokens, settings.auth_tokens_file)
        load_chain_key(settings)  # checked before start-up: one line, not a lifespan traceback
    except (AccessConfigError, ChainKeyError) as error:
        print(f"workflow-search: {error}", file=sys.stderr)
        return 2
    if not tokens and not is_loopback(settings.host):
        print(
            f"workflow-search: refusing to listen on {settings.host} with no access tokens: anyone could reach "
            "the API. Configure WORKFLOW_SEARCH_AUTH_TOKENS or WORKFLOW_SEARCH_AUTH_TOKENS_FILE "
            "(`workflow-search token new`), or listen on 127.0.0.1.",
            file=sys.stderr,
        )
        return 2
    if settings.workers > 1:
        from app.cli.workers import serve_workers  # noqa: PLC0415

        return serve_workers(settings)
    run_server(settings)
    return 0


def _migrate(settings: Settings, downgrade_to: str | None) -> int:
    from app.cli import migrate  # noqa: PLC0415
    from app.lib.database import locate_database  # noqa: PLC0415

    location = locate_database(settings)
    try:
        if downgrade_to:
            migrate.downgrade(location.url, downgrade_to)
        else:
            migrate.upgrade(location.url)
    finally:
        location.close()
    # Alembic's own lines are at WARNING now (app.lib.logs); one line says the command did its work.
    done = f"rolled back to {downgrade_to}" if downgrade_to else "migrated to the latest revision"
    print(f"workflow-search: database {done}")
    return 0


async def _seed_demo(settings: Settings) -> int:
    from app.cli.demo import seed_demo_catalog  # noqa: PLC0415
    from app.lib.database import create_sessionmaker, open_database  # noqa: PLC0415

    async with open_database(settings) as engine, create_sessionmaker(engine)() as session, session.begin():
        added = await seed_demo_catalog(session, settings)
    message = f"added {added} demo workflows" if added else "catalog not empty: demo catalog not loaded"
    print(f"workflow-search: {message}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
