# The two commands of the README: `make demo` and `make test` (the whole suite);
# `make test-quick` is the edit loop's subset (tests not marked slow).
# All create/refresh the project-local virtual environment first (idempotent).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.cim_mm-installed
REQS   := requirements/build.txt requirements/runtime.txt requirements/tests.txt requirements/demo.txt

.PHONY: venv test test-quick demo bench clean-venv

venv: $(STAMP)

$(STAMP): $(REQS) pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements/build.txt
	$(PY) -m pip install -q -r requirements/runtime.txt -r requirements/tests.txt -r requirements/demo.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(PY) -c "import cim_mm.compat.enable, mmseg.models; print('cim_mm environment ready')"
	touch $(STAMP)

test: venv
	$(PY) -m pytest -q tests

test-quick: venv
	$(PY) -m pytest -q -m "not slow" tests

demo: venv
	$(PY) tools/demo.py --work-dir work_dirs/cim_demo

bench: venv
	$(PY) tools/analysis_tools/benchmark_pairs.py

clean-venv:
	rm -rf $(VENV)
