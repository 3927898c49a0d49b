"""The web layer: the API blueprint, signed files, health, metrics, OpenAPI, the docs page,
security headers, rate limits, request-body reading and the JSON error handlers.
Everything here may use Flask; nothing below it does.
"""
