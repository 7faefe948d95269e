"""gunicorn settings for the Procfile (`make serve`, the browser tests) and docker-compose.yml.

Environment: HOST (default 127.0.0.1; 0.0.0.0 in a container), PORT (8000), WEB_CONCURRENCY
(processes, 2) and WEB_THREADS (threads per process, 4). Each thread may hold a database
connection: see README, "Scaling out".
"""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
# A 30 MB roster upload on a slow line must not be cut off; anything longer is stuck.
timeout = 120
graceful_timeout = 20
# Recycle processes now and then: bounded memory over weeks of uptime. Each worker at its own
# point (a jitter of half the count): with 5000 ± 500, both workers recycled within a second
# of each other during the student rush, and nobody was served for seconds while two new
# processes loaded Django (p99 10 s, bench/bench_student_flow.py).
max_requests = 10000
max_requests_jitter = 5000
# Load the project once in the master; a new or recycled worker is a fork of it, serving within
# milliseconds instead of after seconds of imports. Nothing connects at import time (database,
# broker and cache connections are opened by each worker on first use).
preload_app = True
# Logs to stdout. The access log has the path only: a query string may carry a search term
# such as an ID number, which must never reach a log.
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
# Heartbeat files in memory, not on a container's overlay disk.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# No control socket (gunicornc): unused here, and one default path would be shared by every
# gunicorn on the machine.
control_socket_disable = True
