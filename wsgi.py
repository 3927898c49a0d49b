"""Entry point for gunicorn (`gunicorn wsgi:app`): the app with its job worker running."""
from tryon import create_app

app = create_app(start_worker=True)
