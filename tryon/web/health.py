"""/healthz: is the database reachable, is the worker alive, is the provider ready."""
from flask import Blueprint, current_app, jsonify

from tryon import services
from tryon.queue import jobs
from tryon.web.database import get_db

bp = Blueprint("health", __name__)


@bp.get("/livez")
def livez():
    """Is the process serving requests? No database, no locks: for load balancers."""
    return {"status": "ok"}


@bp.get("/healthz")
def healthz():
    checks = {"database": _database(), "worker": _worker(),
              "provider": provider_status(current_app)}
    healthy = checks["database"]["ok"] and checks["worker"]["ok"]
    body = {"status": "ok" if healthy else "unavailable", **checks}
    return jsonify(body), 200 if healthy else 503


def _database():
    try:
        counts = jobs.counts_by_state(get_db())
    except Exception as exc:  # the point of a health check is to report, not to crash
        return {"ok": False, "error": str(exc)}
    return {"ok": True, "jobs": counts}


def _worker():
    state = services.of(current_app).worker.health()
    ok = state["threads"] == 0 or state["dispatcherAlive"]
    return {"ok": ok, **state}


def provider_status(app):
    """The configured provider's name, whether it is ready, and what keeps it from working
    (shown by /healthz and the admin page)."""
    return services.of(app).providers.status(app.config["PROVIDER"])
