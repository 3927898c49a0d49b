"""gunicorn's settings for tryon. gunicorn reads ./gunicorn.conf.py from its working
directory, so `make run`, deploy/tryon.service, the benchmarks (bench/service.py) and
tests/test_gunicorn.py all start the same server; each adds only --bind (and the unit its
proxy address). The glibc malloc settings (MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_) cannot
live here: glibc reads them when the process starts, so the launchers set them in the
environment.
"""
# One process: SQLite, the rate limiter's memory store and the job worker belong to it.
workers = 1
# Request threads; the job worker's threads (TRYON_WORKERS) come on top.
threads = 8
# Large uploads over slow links, when no nginx buffers them (deploy/nginx-tryon.conf does).
timeout = 120
# On restart, running jobs get this long to finish; unfinished ones run again after their
# lease expires.
graceful_timeout = 30
# The threaded worker (gunicorn's gthread), answering requests refused for their size with
# the API's JSON errors instead of an HTML page: tryon/web/gunicorn_worker.py.
worker_class = "tryon.web.gunicorn_worker.JsonRefusalsThreadWorker"
# Request size limits, as large as nginx in front lets through
# (deploy/nginx-tryon.conf: large_client_header_buffers 4 8k), so that what nginx passes
# reaches the app, which answers an overlong API key (401) or jobId (404) with its JSON
# errors. 8190 bytes is the most gunicorn allows for the request line.
limit_request_line = 8190
limit_request_field_size = 8190
limit_request_fields = 100
# No control socket (gunicornc): by default every gunicorn a user runs shares
# ~/.gunicorn/gunicorn.ctl (or $XDG_RUNTIME_DIR/gunicorn.ctl), and stopping one instance
# deletes the socket of all the others. tryon needs none: systemd and signals restart it.
control_socket_disable = True
