"""`flask --app app backup DEST`: a consistent copy of the database and the object store,
taken while the service runs.

The database is copied with SQLite's online backup API (a snapshot, even under writes);
objects are copied after it, so every file the snapshot refers to is in the copy (files
written later are copied too and are harmless). The instance's secret_key is copied as well:
without it, restored sessions and signed URLs would not verify. Restore: stop the service,
copy DEST/* into the instance folder, start it (see the README).
"""
import os
import shutil
import sqlite3
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from tryon import services


def backup_instance(database_path, objects_root, secret_path, destination):
    """Write tryon.sqlite3, objects/ and secret_key into `destination` (new or empty)."""
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    if any(destination.iterdir()):
        raise click.ClickException(f"{destination} is not empty; give a new folder.")
    source = sqlite3.connect(database_path)
    target = sqlite3.connect(destination / "tryon.sqlite3")
    try:
        with target:
            source.backup(target)
    finally:
        target.close()
        source.close()
    copied = _copy_objects(Path(objects_root), destination / "objects")
    if Path(secret_path).exists():
        shutil.copy2(secret_path, destination / "secret_key")
        os.chmod(destination / "secret_key", 0o600)
    return copied


def _copy_objects(root, target):
    copied = 0
    for path in root.rglob("*") if root.exists() else ():
        if path.is_file() and not path.name.startswith(".tmp-"):   # skip unfinished writes
            out = target / path.relative_to(root)
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, out)
            copied += 1
    return copied


@click.command("backup")
@click.argument("destination", type=click.Path(file_okay=False))
@with_appcontext
def backup_command(destination):
    """Copy the database, the stored images and the secret into DESTINATION."""
    app = current_app
    copied = backup_instance(app.config["DATABASE"], services.of(app).store.root,
                             os.path.join(app.instance_path, "secret_key"), destination)
    click.echo(f"Backed up the database and {copied} objects to {destination}.", err=True)


def init_app(app):
    app.cli.add_command(backup_command)
