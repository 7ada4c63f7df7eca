"""CLI of the documenters' web app: ``witnessbox serve`` and ``witnessbox user ...``."""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path

import typer

from .. import config
from ..errors import UsageError
from ._common import open_workspace as _open
from ._common import out, print_json, prompt_passphrase, safe

_out = out  # never interprets markup (cli/_common.py)
ENV_USER_PASSPHRASE = "WITNESSBOX_USER_PASSPHRASE"

user_app = typer.Typer(help="Accounts of the web app (login name, role, regions; nothing else).", no_args_is_help=True)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (loopback by default)."),
    port: int = typer.Option(8484, "--port", help="TCP port."),
    archive: Path = typer.Option(None, "--archive", "-A", help="Archive folder (default: $WITNESSBOX_ARCHIVE)."),
    tls_cert: Path = typer.Option(None, "--tls-cert", help="PEM certificate: serve HTTPS."),
    tls_key: Path = typer.Option(None, "--tls-key", help="PEM private key of --tls-cert."),
    behind_proxy: bool = typer.Option(False, "--behind-proxy", help="A TLS proxy (Caddy, nginx, onion service) is in front."),
    origin: str = typer.Option(None, "--origin", help="Public origin behind a proxy, e.g. https://evidence.example.org."),
    site: Path = typer.Option(None, "--site", help="Folder the publish page builds the public site into."),
    dropbox_inbox: Path = typer.Option(None, "--dropbox-inbox", help="Drop-box inbox whose submissions editors answer."),
) -> None:
    """Serve the documenters' web app for one archive (see docs/web-security.md)."""
    import uvicorn

    from ..web.app import WebConfig, create_app

    if (tls_cert is None) != (tls_key is None):
        raise UsageError("give both --tls-cert and --tls-key, or neither")
    tls = tls_cert is not None
    if not is_loopback(host) and not tls and not behind_proxy:
        raise UsageError(f"refusing to serve on {host} without TLS: give --tls-cert/--tls-key, or --behind-proxy when a TLS proxy is in front")
    root = config.archive_path(archive)
    web = WebConfig(archive=root, secure_cookies=tls or behind_proxy, origin=origin.rstrip("/") if origin else None,
                    hsts=tls or behind_proxy, site=site.resolve() if site else None,
                    dropbox_inbox=dropbox_inbox.resolve() if dropbox_inbox else None)
    app = create_app(web)
    scheme = "https" if tls else "http"
    shown = f"[{host}]" if ":" in host else host
    _out.print(f"witnessbox serves {safe(str(root))} at {scheme}://{shown}:{port}/  (Ctrl+C stops)")
    uvicorn.run(app, host=host, port=port, ssl_certfile=str(tls_cert) if tls_cert else None,
                ssl_keyfile=str(tls_key) if tls_key else None, proxy_headers=behind_proxy,
                forwarded_allow_ips="127.0.0.1" if behind_proxy else None, server_header=False,
                date_header=False, log_level="warning", timeout_graceful_shutdown=5)


def _user_passphrase(name: str) -> str:
    env = os.environ.get(ENV_USER_PASSPHRASE)
    if env is not None:
        return env
    if not sys.stdin.isatty():
        raise UsageError(f"no passphrase for {name}: set {ENV_USER_PASSPHRASE} (stdin is not a terminal)")
    value: str = typer.prompt(f"Passphrase for {name} (at least 14 characters)", hide_input=True,
                              confirmation_prompt=True)
    return value


def _print_enrollment(data: dict[str, object], as_json: bool) -> None:
    if as_json:
        print_json(data)
        return
    _out.print(f"user {safe(str(data['name']))} ({data['role']}): add this to the authenticator app:")
    _out.print(safe(str(data["totp_uri"])))
    _out.print("recovery codes (each works once; store them offline):")
    for c in data["recovery_codes"]:  # type: ignore[attr-defined]
        _out.print(f"  {c}")


@user_app.command("add")
def user_add(
    name: str = typer.Argument(..., help="Login name (lower case letters, digits, . _ -)."),
    role: str = typer.Option(..., "--role", help="admin, editor, reviewer or viewer."),
    region: list[str] = typer.Option([], "--region", help="Limit to this region (repeat); none: all regions."),
    archive: Path = typer.Option(None, "--archive", "-A", help="Archive folder (default: $WITNESSBOX_ARCHIVE)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Add a web user; prints the TOTP URI and the recovery codes once."""
    with _open(archive) as ws:
        archive_pass = prompt_passphrase()
        enrollment = ws.accounts.add(name, _user_passphrase(name), role, region, archive_passphrase=archive_pass)
    _print_enrollment(enrollment.to_json(), as_json)


@user_app.command("list")
def user_list(
    archive: Path = typer.Option(None, "--archive", "-A", help="Archive folder (default: $WITNESSBOX_ARCHIVE)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """List web users: name, role, regions, state."""
    with _open(archive) as ws:
        accounts = ws.accounts.list()
    if as_json:
        print_json([a.to_json() for a in accounts])
        return
    for a in accounts:
        state = "disabled" if a.disabled else (f"locked until {a.locked_until}" if a.locked_until else "active")
        regions = ", ".join(a.regions) or "all regions"
        _out.print(f"{safe(a.name)}  {a.role.value}  {safe(regions)}  {state}")


@user_app.command("disable")
def user_disable(
    name: str = typer.Argument(..., help="Login name."),
    archive: Path = typer.Option(None, "--archive", "-A", help="Archive folder (default: $WITNESSBOX_ARCHIVE)."),
) -> None:
    """Disable a web user (their sessions end; they cannot sign in)."""
    with _open(archive) as ws:
        ws.accounts.set_disabled(name, True)
    _out.print(f"user {safe(name)} disabled")


@user_app.command("enable")
def user_enable(
    name: str = typer.Argument(..., help="Login name."),
    archive: Path = typer.Option(None, "--archive", "-A", help="Archive folder (default: $WITNESSBOX_ARCHIVE)."),
) -> None:
    """Enable a disabled web user again."""
    with _open(archive) as ws:
        ws.accounts.set_disabled(name, False)
    _out.print(f"user {safe(name)} enabled")


@user_app.command("unlock")
def user_unlock(
    name: str = typer.Argument(..., help="Login name."),
    archive: Path = typer.Option(None, "--archive", "-A", help="Archive folder (default: $WITNESSBOX_ARCHIVE)."),
) -> None:
    """Lift a lockout after failed sign-ins."""
    with _open(archive) as ws:
        ws.accounts.unlock(name)
    _out.print(f"user {safe(name)} unlocked")


@user_app.command("reset-2fa")
def user_reset_2fa(
    name: str = typer.Argument(..., help="Login name."),
    archive: Path = typer.Option(None, "--archive", "-A", help="Archive folder (default: $WITNESSBOX_ARCHIVE)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """New TOTP secret and recovery codes for a user (the old ones stop working)."""
    with _open(archive) as ws:
        enrollment = ws.accounts.reset_2fa(name)
    _print_enrollment(enrollment.to_json(), as_json)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(user_app, name="user")
