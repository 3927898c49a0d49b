"""The request's SQLite connection (`get_db`, handed back at teardown) and `flask init-db`.

The data layer (tryon/store/db.py) knows nothing of Flask; this is the one place where a
request finds its connection: the thread's own, from the app's ThreadConnections.
"""
import click
from flask import current_app, g
from flask.cli import with_appcontext

from tryon import services
from tryon.store import db


def get_db():
    if "db" not in g:
        g.db = services.of(current_app).connections.get()
    return g.db


def close_db(exc=None):
    conn = g.pop("db", None)
    if conn is not None and conn.in_transaction:
        conn.execute("ROLLBACK")   # never hand an open transaction to the thread's next request


@click.command("init-db")
@with_appcontext
def init_db_command():
    """Create the database or bring it up to the current schema."""
    conn = db.connect(current_app.config["DATABASE"])
    try:
        applied = db.migrate(conn, db.migration_lock_path(current_app.config["DATABASE"]))
        version = db.schema_version(conn)
    finally:
        conn.close()
    if applied:
        click.echo(f"Applied migrations {applied}; schema version {version}.")
    else:
        click.echo(f"Database is up to date (schema version {version}).")


def init_app(app):
    app.teardown_appcontext(close_db)
    app.cli.add_command(init_db_command)
