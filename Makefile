# Two commands set everything up: `make demo` and `make test` (see README.md).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
REQS := requirements/build.txt requirements/torch.txt requirements/mminstall.txt \
        requirements/runtime.txt requirements/tests.txt requirements/lint.txt \
        setup.py
# The stamp is keyed on the requirement files: it is rebuilt only when one changes.
STAMP := $(VENV)/.stamp-$(shell cat $(REQS) | cksum | cut -d' ' -f1)

.PHONY: venv test lint demo bench clean
LINTED := mmcls_geda tools benchmarks tests configs setup.py

venv: $(STAMP)

$(STAMP): $(REQS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements/torch.txt
	# after torch, which pulls in a setuptools too new for mmcv's setup.py
	$(PIP) install -q -r requirements/build.txt
	$(PIP) install -q --no-build-isolation -r requirements/mminstall.txt
	# mmcv is built; give torch back the setuptools it declares
	$(PIP) install -q "setuptools>=77.0.3"
	$(PIP) install -q -r requirements/runtime.txt -r requirements/tests.txt \
	    -r requirements/lint.txt
	$(PIP) install -q --no-build-isolation --no-deps -e .
	rm -f $(VENV)/.stamp-*
	touch $@

test: venv
	$(PY) -m pytest -q tests

# The checks of .pre-commit-config.yaml, run from the venv (offline).
lint: venv
	$(VENV)/bin/flake8 $(LINTED)
	$(VENV)/bin/isort --check-only --diff $(LINTED)
	$(VENV)/bin/yapf --diff --recursive $(LINTED)

demo: venv
	$(PY) tools/demo.py --work-dir work_dirs/demo

clean:
	rm -rf $(VENV) build *.egg-info
