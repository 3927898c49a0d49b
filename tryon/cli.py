"""Command-line administration: `flask --app app users|keys|credits ...`.

These names and outputs are a contract that other tools script: `keys create` prints only
the new key, `credits balance` only the number.
"""
import sys
from contextlib import contextmanager

import click
from flask import current_app
from flask.cli import AppGroup

from tryon.store import accounts, db

users_cli = AppGroup("users", help="Manage user accounts.")
keys_cli = AppGroup("keys", help="Manage API keys.")
credits_cli = AppGroup("credits", help="Grant and inspect credits.")


def _fail(message):
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


@contextmanager
def _accounts_db():
    """A connection to the app's database, closed afterwards. An AccountError (no such
    user, a duplicate email, ...) becomes "Error: ..." on stderr and exit status 1 instead
    of a traceback: scripts read the message and the status."""
    conn = db.connect(current_app.config["DATABASE"])
    try:
        yield conn
    except accounts.AccountError as exc:
        _fail(str(exc))
    finally:
        conn.close()


@users_cli.command("create")
@click.argument("email")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input instead of "
                   "asking for it twice on the terminal "
                   "(for scripts: printf '%s\\n' \"$PW\" | ...).")
@click.option("--credits", type=click.IntRange(min=0), default=0, show_default=True,
              help="Credits to grant the new user.")
@click.option("--admin", is_flag=True, help="Make the user an administrator.")
def create_user(email, password_stdin, credits, admin):
    """Create a user with EMAIL. Asks for the password twice (at least 8 characters, not
    shown), unless --password-stdin."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif not sys.stdin.isatty():
        # click.prompt would print "Aborted!" at the end of the input and exit 1, which a
        # script only notices at its next line ("No user with the email").
        _fail("no terminal to ask for the password on: give it with --password-stdin.")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _accounts_db() as conn:
        accounts.create_user(conn, email, password, is_admin=admin, credits=credits)
    click.echo(f"Created user {email}" + (" (admin)" if admin else "")
               + f" with {credits} credits.", err=True)


@keys_cli.command("create")
@click.argument("email")
@click.option("--name", default="default", show_default=True,
              help="A name to recognise the key by.")
def create_key(email, name):
    """Create an API key for EMAIL and print it (it is not shown again)."""
    with _accounts_db() as conn:
        user = accounts.require_user(conn, email)
        plaintext, _ = accounts.create_api_key(conn, user["id"], name)
    click.echo(plaintext)


@keys_cli.command("revoke")
@click.argument("key_or_prefix")
def revoke_key(key_or_prefix):
    """Revoke an API key given in full or by its displayed prefix."""
    with _accounts_db() as conn:
        prefix = accounts.revoke_api_key(conn, key_or_prefix)
    click.echo(f"Revoked {prefix}…", err=True)


@credits_cli.command("grant")
@click.argument("email")
@click.argument("amount", type=click.IntRange(min=1))
def grant(email, amount):
    """Grant AMOUNT credits to EMAIL."""
    with _accounts_db() as conn:
        user = accounts.require_user(conn, email)
        accounts.grant_credits(conn, user["id"], amount, note="granted from the command line")
        new_balance = accounts.balance(conn, user["id"])
    click.echo(f"Granted {amount}; {email} now has {new_balance} credits.", err=True)


@credits_cli.command("balance")
@click.argument("email")
def show_balance(email):
    """Print the credit balance of EMAIL."""
    with _accounts_db() as conn:
        user = accounts.require_user(conn, email)
        click.echo(accounts.balance(conn, user["id"]))


def init_app(app):
    for group in (users_cli, keys_cli, credits_cli):
        app.cli.add_command(group)
