"""Entry point for the `flask` command: `flask --app app <command>` finds create_app here."""
from tryon import create_app  # noqa: F401
