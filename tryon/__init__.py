"""tryon: a self-hosted virtual try-on service.

`create_app` builds the Flask app (tryon/factory.py). It is imported only when called, so
that `tryon.client` (which needs nothing but requests) can be used on a machine without the
server's dependencies.
"""


def create_app(test_config=None, *, start_worker=False):
    from .factory import create_app as build_app

    return build_app(test_config, start_worker=start_worker)
