"""Entry point for gunicorn (`gunicorn wsgi:app`): the app with its job worker running.

Logs go to stderr (journald under systemd): the app's own messages and one JSON line per
request from the `tryon.access` logger.
"""
import logging

from tryon import create_app

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
app = create_app(start_worker=True)
