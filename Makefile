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
# The mmpretrain 1.x / mmengine stack (work in progress, docs/mmpretrain.md).
VENV_MMP := .venv-mmpretrain
PY_MMP := $(VENV_MMP)/bin/python
REQS_MMP := requirements/torch.txt requirements/mmpretrain.txt \
            requirements/tests.txt setup.py
STAMP_MMP := $(VENV_MMP)/.stamp-$(shell cat $(REQS_MMP) | cksum | cut -d' ' -f1)

.PHONY: venv test lint demo bench clean venv-mmpretrain test-mmpretrain
LINTED := mmcls_geda tools benchmarks tests configs setup.py

venv: $(STAMP)

$(STAMP): $(REQS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements/torch.txt
	# mmcv 1.7.2's setup.py needs pkg_resources (setuptools<70) while torch
	# declares setuptools>=77: build the mmcv/mmcls wheels in a throwaway venv,
	# so this venv never holds the old setuptools (no resolver conflict)
	rm -rf $(VENV)/mm-build $(VENV)/mm-wheels
	$(PYTHON) -m venv $(VENV)/mm-build
	$(VENV)/mm-build/bin/pip install -q -r requirements/build.txt
	$(VENV)/mm-build/bin/pip wheel -q --no-deps --no-build-isolation \
	    -w $(VENV)/mm-wheels -r requirements/mminstall.txt
	$(PIP) install -q $(VENV)/mm-wheels/*.whl
	rm -rf $(VENV)/mm-build $(VENV)/mm-wheels
	$(PIP) install -q -r requirements/runtime.txt -r requirements/tests.txt \
	    -r requirements/lint.txt
	$(PIP) install -q --no-build-isolation --no-deps -e .
	rm -f $(VENV)/.stamp-*
	touch $@

test: venv
	$(PY) -m pytest -q tests

venv-mmpretrain: $(STAMP_MMP)

$(STAMP_MMP): $(REQS_MMP)
	test -x $(PY_MMP) || $(PYTHON) -m venv $(VENV_MMP)
	$(PY_MMP) -m pip install -q --upgrade pip
	$(PY_MMP) -m pip install -q -r requirements/torch.txt
	# not requirements/runtime.txt: it pins mmcls 0.x
	$(PY_MMP) -m pip install -q -r requirements/mmpretrain.txt \
	    -r requirements/tests.txt
	$(PY_MMP) -m pip install -q --no-build-isolation --no-deps -e .
	rm -f $(VENV_MMP)/.stamp-*
	touch $@

# The mmpretrain suite only: tests/conftest.py (mmcls fixtures) stays unloaded.
test-mmpretrain: venv-mmpretrain
	$(PY_MMP) -m pytest -q --confcutdir=tests/mmpretrain tests/mmpretrain

# The checks of .pre-commit-config.yaml, run from the venv (offline).
lint: venv
	$(VENV)/bin/flake8 $(LINTED)
	$(VENV)/bin/isort --check-only --diff $(LINTED)
	$(VENV)/bin/yapf --diff --recursive $(LINTED)

demo: venv
	$(PY) tools/demo.py --work-dir work_dirs/demo

clean:
	rm -rf $(VENV) $(VENV_MMP) build *.egg-info
