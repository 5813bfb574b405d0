# The project's vocabulary. Every target creates what it needs (venv, migrations, demo data).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
VAR_DIR ?= $(CURDIR)/var
export VAR_DIR
# The trained moderation classifier, shared by every VAR_DIR of this checkout (the test suites each have their own).
export REMIX_MODERATION_MODEL_DIR ?= $(CURDIR)/var/models/moderation
# The browser tests save a screenshot of every page here.
export SCREENSHOT_DIR ?= $(VAR_DIR)/screenshots
# Where `make test` finds the services for its second pass (skipped when they do not answer).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379
SERVICES_ENV := DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_REDIS_URL)/0 CACHE_URL=$(TEST_REDIS_URL)/1

.PHONY: setup system-packages proxy run worker web serve migrate model signing demo test test-embedded test-services lint format browsers clean moderation-report moderation-model bench-moderation bench reliability security

setup: system-packages $(VENV)/.installed

# Debian libraries that OpenCV (the invisible watermark) loads; installed only when missing.
system-packages:
	@ldconfig -p | grep -q 'libGL.so.1 ' && ldconfig -p | grep -q 'libglib-2.0.so.0 ' || { \
	  echo "installing Debian's libgl1 and libglib2.0-0 for OpenCV"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq libgl1 libglib2.0-0 >/dev/null; }

$(VENV)/.installed: requirements.txt requirements-nodeps.txt
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed ($(PYTHON) not found)"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	touch $@

migrate: setup moderation-model
	$(PY) manage.py migrate --noinput

# The learned stage of prompt moderation, trained on remix/moderation/data/dev (seconds; once per data change).
moderation-model: setup
	$(PY) manage.py remix_train_moderation

# The embedded default's model: a tiny random-weight pipeline of the real diffusers classes.
TINY_MODEL := $(VAR_DIR)/models/tiny-instruct-pix2pix

model: setup
	$(PY) manage.py remix_build_tiny_model $(TINY_MODEL)

# The embedded default's C2PA signing identity: a local test CA and a signing certificate.
signing: setup
	$(PY) manage.py remix_make_signing_cert $(VAR_DIR)/signing

demo: migrate model signing
	$(PY) manage.py demo_data
	$(PY) manage.py remix_demo_data

# The whole app on the embedded default: web on 127.0.0.1:$(PORT) and a worker; Ctrl-C stops both.
run: demo
	@echo "Remix is starting on http://127.0.0.1:$(PORT)/  (Ctrl-C stops web and worker)"
	@trap 'kill $$worker $$web 2>/dev/null; wait' INT TERM EXIT; \
	$(VENV)/bin/celery -A socialapp worker -Q default,remix --concurrency 1 --beat --loglevel WARNING & worker=$$!; \
	$(PY) manage.py runserver 127.0.0.1:$(PORT) --noreload & web=$$!; \
	wait -n $$worker $$web

# A worker for both queues with the sweeper's schedule (celery beat) embedded. On GPU machines run
# `celery -A socialapp worker -Q remix` per GPU and one `celery -A socialapp beat` somewhere.
worker: migrate model signing
	$(VENV)/bin/celery -A socialapp worker -Q default,remix --concurrency 1 --beat --loglevel INFO

web: migrate
	$(PY) manage.py runserver 127.0.0.1:$(PORT) --noreload

# Debian's nginx, the production web tier's front (make serve, and the served-stack tests); installed only when
# missing.
proxy:
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || { \
	  echo "installing Debian's nginx-light for the production web tier"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nginx-light >/dev/null; }

# The production web tier on $(PORT): nginx in front of gunicorn (slow clients, body limits, static files, media
# after Django's check). WEB_CONCURRENCY sets gunicorn's workers (2).
serve: migrate proxy
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py serve --bind 127.0.0.1:$(PORT) --workers $${WEB_CONCURRENCY:-2}

# Prompt moderation measured like an outsider: every layer on the development sets (5-fold cross-validated) and on
# the frozen held-out set: stopped and false-positive rates per category, technique, language; median check time.
moderation-report: migrate
	$(PY) manage.py remix_moderation_report

# Benchmark (not a test) of the text check: median and p95 ms per prompt through every layer.
bench-moderation: setup
	$(PY) bench/moderation.py

# Benchmarks, not tests: GPU edit throughput (null without CUDA), worker time outside the model, web
# requests/s. Writes $(VAR_DIR)/bench/summary.json and prints a table. BENCH_QUICK=1: a quick run;
# BENCH_ONLY=worker,web: some sections only. Each section makes its own database and model.
BENCH_QUICK ?=
BENCH_ONLY ?= gpu,worker,web
bench: setup
	$(PY) bench/run.py --out $(VAR_DIR)/bench --only $(BENCH_ONLY) $(if $(filter 1 yes true,$(BENCH_QUICK)),--quick)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy socialapp remix
	$(VENV)/bin/bandit --quiet --recursive socialapp remix --severity-level high
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Debian's Chromium for the Playwright tests (Playwright cannot download its own browsers here).
browsers:
	@test -x /usr/bin/chromium || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-dejavu-core >/dev/null; }

# Lint, the suite on the embedded default, then again on PostgreSQL + Redis where they answer.
test: setup browsers proxy lint test-embedded test-services

test-embedded: setup moderation-model
	VAR_DIR=$(VAR_DIR)/test $(PY) -m pytest

test-services: setup moderation-model
	@if $(SERVICES_ENV) VAR_DIR=$(VAR_DIR)/test-services $(PY) manage.py check_services; then \
	  echo "== second pass: PostgreSQL + Redis"; \
	  $(SERVICES_ENV) VAR_DIR=$(VAR_DIR)/test-services $(PY) -m pytest; \
	else echo "== PostgreSQL/Redis do not answer: second pass skipped"; fi

# The fault and load suites (tests/reliability): workers killed with -9 (pool process and whole worker, 20 times
# each), a poison job, SIGTERM, Redis restarted, PostgreSQL cut off, load with the worker saturated. They need
# PostgreSQL (its own test database) and redis-server (a private one they restart), so they are not part of
# `make test`; CI runs them where those answer. Prints one line per promise.
reliability: setup moderation-model
	@DATABASE_URL=$(TEST_DATABASE_URL) VAR_DIR=$(VAR_DIR)/reliability-check $(PY) manage.py check_services >/dev/null && command -v redis-server >/dev/null || { \
	  echo "make reliability needs PostgreSQL at $(TEST_DATABASE_URL) and redis-server"; exit 1; }
	RELIABILITY_DATABASE_URL=$(dir $(TEST_DATABASE_URL))reliability $(PY) tests/reliability/run.py

# The pen test's attacks against the served stack (nginx + gunicorn, real processes): brute force with rotating
# headers, sign-up floods, oversized and deeply nested bodies, slow clients, decode bombs in parallel, media
# visibility through the proxy. One line per attack with its figure.
security: setup proxy moderation-model
	$(PY) tests/security/run.py

clean:
	rm -rf $(VAR_DIR)/test $(VAR_DIR)/test-services $(VAR_DIR)/screenshots
