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
