"""The `tidings` command."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tidings import __version__
from tidings.errors import TidingsError


@click.group()
@click.version_option(__version__, prog_name="tidings")
def main() -> None:
    """Tidings: a self-hosted server for the Pusher Channels and Beams protocols."""


@main.command()
@click.option("--host", default=None, help="Address to listen on [env TIDINGS_HOST; default 0.0.0.0]")
@click.option("--port", type=int, default=None, help="Port for WebSocket and HTTP [TIDINGS_PORT; default 6001]")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help="Embedded SQLite lives here")
@click.option("--database-url", default=None, help="SQLAlchemy URL, e.g. postgresql+asyncpg://...")
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None, help="TOML settings file")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default=None)
@click.option("--log-format", type=click.Choice(["console", "json"]), default=None)
@click.option("--tls-cert", type=click.Path(path_type=Path), default=None, help="PEM certificate: serve HTTPS/WSS")
@click.option("--tls-key", type=click.Path(path_type=Path), default=None, help="PEM private key for --tls-cert")
@click.option("--demo", is_flag=True, default=None, help="Serve the browser demo at /demo (development only)")
def serve(
    host: str | None,
    port: int | None,
    data_dir: Path | None,
    database_url: str | None,
    config_file: Path | None,
    log_level: str | None,
    log_format: str | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    demo: bool | None,
) -> None:
    """Run the server (WebSocket, HTTP API, health and metrics on one port)."""
    from tidings import log, server
    from tidings.config import load_settings

    try:
        settings = load_settings(
            {
                "host": host,
                "port": port,
                "data_dir": data_dir,
                "database_url": database_url,
                "log_level": log_level,
                "log_format": log_format,
                "demo": demo,
                "tls_cert": tls_cert,
                "tls_key": tls_key,
            },
            config_file,
        )
        log.configure(settings.log_level, settings.log_format)
        server.run(settings)
    except TidingsError as exc:
        click.echo(f"tidings: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        pass


@main.command("config-docs")
def config_docs() -> None:
    """Print docs/configuration.md, generated from the settings schema."""
    from tidings.configdoc import render

    click.echo(render(), nl=False)


def _register() -> None:
    from tidings.cli.apps import apps
    from tidings.cli.apps_import import import_apps  # registers itself under `apps`
    from tidings.cli.configure import configure  # registers itself under `instances`
    from tidings.cli.instances import instances, token
    from tidings.cli.outbox import outbox
    from tidings.cli.publishes import publish, publishes
    from tidings.cli.tail import tail
    from tidings.cli.webhooks import webhooks  # registers itself under `apps`
    from tidings.cli.worker import worker

    assert webhooks is not None and configure is not None and import_apps is not None
    main.add_command(apps)
    main.add_command(instances)
    main.add_command(token)
    main.add_command(worker)
    main.add_command(publish)
    main.add_command(publishes)
    main.add_command(tail)
    main.add_command(outbox)


_register()
