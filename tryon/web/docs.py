"""/docs: the API documentation, with this server's base URL in every example."""
from flask import Blueprint, current_app, render_template

from tryon.web import doc_examples
from tryon.web.api import public_base_url

bp = Blueprint("docs", __name__)


@bp.get("/docs")
def index():
    base_url = public_base_url()
    examples = {name: doc_examples.for_server(name, base_url).rstrip()
                for name in doc_examples.FILES}
    return render_template("docs/index.html", base_url=base_url, examples=examples,
                           job_cost=current_app.config["JOB_COST"],
                           url_ttl_minutes=current_app.config["RESULT_URL_TTL"] // 60,
                           retention_days=current_app.config["RETENTION_DAYS"])
