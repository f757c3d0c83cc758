"""Commands about secrets: secrets set, list, delete, new-master-key. Values are never printed."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from flowdeck.console.cli.app import app, workspace
from flowdeck.console.cli.output import counted, err, out, print_json

secrets_app = typer.Typer(
    help="Store credentials outside YAML: in the OS keyring, or in flowdeck's encrypted file keyring.\n\n"
    "Refer to one in configuration as `${secret:NAME}`.",
    no_args_is_help=True,
)
app.add_typer(secrets_app, name="secrets")


def _read_value(name: str) -> str:
    """The secret's value: typed twice without echo on a terminal, else all of stdin (one trailing newline dropped)."""
    from flowdeck.engine.secrets import SecretsError

    if sys.stdin.isatty():
        import getpass

        try:
            value = getpass.getpass(f"value of {name} (not shown): ")
            again = getpass.getpass("again: ")
        except EOFError:  # Ctrl-D at the prompt
            sys.stderr.write("\n")
            raise SecretsError(f"no value given for {name}; nothing was stored") from None
        if again != value:
            raise SecretsError("the two values differ; nothing was stored")
        return value
    value = sys.stdin.read()
    return value[:-1] if value.endswith("\n") else value


@secrets_app.command("set")
def set_secret(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The secret's name, as written in `${secret:NAME}`.")],
    generate: Annotated[bool, typer.Option("--generate", help="Store a new random value (32 bytes) instead of reading one.")] = False,
    allow_short: Annotated[bool, typer.Option(
        "--allow-short", help="Store a value shorter than 5 characters, which flowdeck cannot mask.")] = False,
) -> None:
    """Store a secret. Prompts without echo on a terminal; otherwise reads the value from stdin.

    Needs the admin role. The value is never printed, logged or written to the audit log. A value
    shorter than 5 characters is refused (flowdeck could not mask it) unless --allow-short.

    Example: `printf '%s' "$PGPASSWORD" | flowdeck secrets set PG_PASSWORD`
    """
    import secrets

    ws = workspace(ctx)
    # before prompting, so nobody types a password for nothing: a viewer is refused, and a machine
    # with nowhere safe to keep it (no keyring, no master key) says how to set one up
    ws.require("secrets", name)
    ws.secret_store_description()
    value = secrets.token_urlsafe(32) if generate else _read_value(name)
    where = ws.set_secret(name, value, allow_short=allow_short)
    err().print(f"stored secret {name} in {where}")
    from flowdeck.engine.masking import MIN_SECRET_LENGTH

    if allow_short and len(value) < MIN_SECRET_LENGTH:
        err().print(f"warning: {name} is too short to be masked: it will appear in clear wherever it is printed "
                    "or logged")


@secrets_app.command("list")
def list_secrets(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of names.")] = False,
) -> None:
    """List the names of the stored secrets (never their values).

    Example: `flowdeck secrets list`
    """
    ws = workspace(ctx)
    names = ws.secret_names()
    if as_json:
        print_json(names)
        return
    for name in names:
        out().print(name)
    err().print(f"{counted(len(names), 'secret')} in {ws.secret_store_description()}")


@secrets_app.command("delete")
def delete_secret(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The secret to remove.")],
) -> None:
    """Remove a secret. Needs the admin role.

    Example: `flowdeck secrets delete PG_PASSWORD`
    """
    from flowdeck.engine.errors import NotFound

    if not workspace(ctx).delete_secret(name):
        raise NotFound(f"there is no secret named {name}", hint="list them with `flowdeck secrets list`")
    err().print(f"deleted secret {name}")


@secrets_app.command("new-master-key")
def new_master_key() -> None:
    """Print a new random master key for the encrypted file keyring (used when there is no OS keyring).

    Keep it somewhere safe: without it the secrets file cannot be opened.

    Example: `export FLOWDECK_MASTER_KEY="$(flowdeck secrets new-master-key)"`
    """
    import secrets

    typer.echo(secrets.token_urlsafe(32))
