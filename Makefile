# Commands for a new machine: `make run`, `make test`, `make serve`, `make e2e` (see README.md).
# Python 3.11 (or newer 3.x, see pyproject): python3.11 when installed, else python3.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
CHROMIUM ?= /usr/bin/chromium
AXE := e2e/node_modules/axe-core/axe.min.js
# `make run`'s one worker consumes every queue (settings.QUEUES), with the same prefix as the site.
comma := ,
ALL_QUEUES := $(subst $() ,$(comma),$(foreach queue,accounts batches files,$(CELERY_QUEUE_PREFIX)$(queue)))

.PHONY: run serve test e2e lint format bench bench-flow install worker clean

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || \
		{ echo "需要 Python 3.11 (Python 3.11 is required; found: $(PYTHON))"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

# The production extra (gunicorn, honcho) and the browser-test extra, on top of the dev install.
$(VENV)/.installed-prod: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[dev,prod]"
	touch $@

$(VENV)/.installed-bench: $(VENV)/.installed-prod
	$(PY) -m pip install --quiet -e ".[dev,prod,bench]"
	touch $@

$(VENV)/.installed-e2e: $(VENV)/.installed-prod
	$(PY) -m pip install --quiet -e ".[dev,prod,e2e]"
	touch $@

# axe-core, pinned with its checksum by e2e/package-lock.json, into e2e/node_modules (ignored).
$(AXE): e2e/package.json e2e/package-lock.json
	npm ci --prefix e2e --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	@echo ""
	@echo "  Portal:  http://$(HOST):$(PORT)/   (admin: http://$(HOST):$(PORT)/admin/)"
	@echo "  A Celery worker runs beside the site on an embedded (folder) broker."
	@echo "  Stop both with Ctrl-C."
	@echo ""
	@trap 'kill 0' INT TERM EXIT; \
	$(VENV)/bin/celery -A config worker --beat --queues $(ALL_QUEUES) --pool=solo --loglevel=INFO & \
	$(PY) manage.py runserver $(HOST):$(PORT)

worker: install
	$(VENV)/bin/celery -A config worker --queues $(ALL_QUEUES) --pool=solo --loglevel=INFO

# The production stack on this machine: PostgreSQL and Redis from DATABASE_URL and REDIS_URL,
# SECRET_KEY required, DJANGO_DEBUG=0; gunicorn, a worker per queue and one beat (Procfile).
# Behind TLS by default; `make serve PLAIN_HTTP=1` applies config/plain_http.env (this machine).
serve: $(VENV)/.installed-prod
	PLAIN_HTTP=$(PLAIN_HTTP) $(PY) -m config.serve

test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest

# Browser journeys against the production stack, which the test session starts on free ports
# with a database and a Redis database number of its own (README.md, "Browser tests").
e2e: $(VENV)/.installed-e2e $(AXE)
	@test -x $(CHROMIUM) || { echo "需要 Debian 的 chromium: apt-get install -y chromium fonts-noto-cjk"; exit 1; }
	$(VENV)/bin/pytest -p no:django -W ignore::pytest.PytestConfigWarning \
		e2e --output e2e/test-results --tracing retain-on-failure

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	$(PY) bench/bench_import.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache e2e/node_modules e2e/screenshots e2e/test-results

# The student flow over HTTP against `make serve`'s stack (its own database and Redis number),
# with the trivial view's cost as the yardstick; ARGS=--quick for a few minutes, ARGS=--record
# to write bench/RESULTS.md. Needs PostgreSQL and Redis running.
bench-flow: $(VENV)/.installed-bench
	$(PY) bench/bench_student_flow.py $(ARGS)
