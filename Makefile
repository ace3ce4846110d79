# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint typecheck unit bench reliability clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/accord demo && $(VENV)/bin/accord node demo

lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck: install
	$(VENV)/bin/mypy

unit: install
	$(VENV)/bin/pytest -q

test: lint typecheck unit

# make bench [ONLY=name]
bench: install
	$(PY) -m bench $(if $(ONLY),--only $(ONLY),)

# make reliability [EXAMPLES=n] [RELEASES=n] [LOAD_SECONDS=s] [PG_RELEASES=n] [PG_KILLS=n] [API_EXAMPLES=n]:
# the bounded reliability suite (every test marked `reliability`, the parser
# fuzzing with more examples) writes docs/reliability.md; fails if a test failed or an input crashed.
RELIABILITY_OUT := $(VENV)/reliability.json
reliability: install
	rm -f $(RELIABILITY_OUT)
	-PYTHONPATH=. ACCORD_FUZZ_EXAMPLES=$(or $(EXAMPLES),1000) ACCORD_RELIABILITY_OUT=$(RELIABILITY_OUT) \
		ACCORD_RELIABILITY_RELEASES=$(or $(RELEASES),1000) ACCORD_RELIABILITY_LOAD_SECONDS=$(or $(LOAD_SECONDS),180) \
		ACCORD_RELIABILITY_PG_RELEASES=$(or $(PG_RELEASES),1000) ACCORD_RELIABILITY_PG_KILLS=$(or $(PG_KILLS),40) \
		ACCORD_RELIABILITY_PG_GAP=2.0 ACCORD_SCHEMATHESIS_EXAMPLES=$(or $(API_EXAMPLES),50) \
		$(VENV)/bin/pytest -q -p tests.support.reliability -m reliability tests
	$(PY) -m tests.support.reliability $(RELIABILITY_OUT) docs/reliability.md

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
