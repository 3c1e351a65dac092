# Two entry points for a fresh machine: `make demo` and `make test`.
# Both create .venv if it is missing and install dglbal (editable) with the exact tested set of
# constraints.txt (pyproject.toml declares ranges; constraints.txt pins what we test).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.dglbal-installed
SHARED_DATA := $(abspath ../shared/data)

# `import dgl` must not write a config file into the home directory.
export DGLBACKEND := pytorch
# Local datasets (Cora, Citeseer, heterophilous npz sets) when ../shared/data is present.
ifneq ($(wildcard $(SHARED_DATA)),)
export DGLBAL_DATA ?= $(SHARED_DATA)
endif

# Release checks, not part of CI: `make check-wheel` (sdist + wheel, twine check, install
# the wheel into a fresh venv with the constraints, smoke run; WHEEL_PYTHON=python3.12 tries
# another Python) and `make check-oldest` (the lower bounds, constraints-oldest.txt, Python 3.10).
TOOLS_VENV ?= .venv-tools
WHEEL_PYTHON ?= $(PYTHON)
WHEEL_VENV ?= .venv-wheel
OLDEST_PYTHON ?= $(shell command -v python3.10)
OLDEST_VENV ?= .venv-oldest

.PHONY: demo test install clean check-wheel check-oldest docs doctest

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=23.1"
	$(BIN)/python -m pip install --quiet -c constraints.txt \
		-e ".[test,plot,lightning,tensorboard,docs]"
	touch $(STAMP)

# The documentation site (Sphinx; docs/conf.py) and the doctests of the package and the guides.
# `make docs` rebuilds from scratch with warnings as errors and nitpicky references; the site is
# docs/_build/html/index.html. `make test` (CI) runs both after the test suite.
docs: $(STAMP)
	rm -rf docs/_build docs/api docs/auto_examples docs/sg_execution_times.rst
	MPLBACKEND=Agg $(BIN)/python -m sphinx -b html -W --keep-going -n docs docs/_build/html

doctest: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider --doctest-modules dglbal
	$(BIN)/python -m pytest -q -p no:cacheprovider --doctest-glob="*.md" docs/*.md docs/guide/*.md

demo: $(STAMP)
	$(BIN)/dglbal train --dataset synthetic --model gat --layers 10 \
		--init xavier bal_x bal_o --optimizer adam --seeds 2 --epochs 200 \
		--monitor --out runs/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q
	$(MAKE) --no-print-directory doctest
	$(MAKE) --no-print-directory docs

check-wheel:
	test -x $(TOOLS_VENV)/bin/python || $(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install --quiet build twine
	rm -rf dist
	$(TOOLS_VENV)/bin/python -m build --outdir dist .
	$(TOOLS_VENV)/bin/python -m twine check --strict dist/*
	rm -rf $(WHEEL_VENV)
	$(WHEEL_PYTHON) -m venv $(WHEEL_VENV)
	$(WHEEL_VENV)/bin/python -m pip install --quiet -c constraints.txt "$$(ls dist/*.whl)[test,plot]"
	$(WHEEL_VENV)/bin/python -m pip check
	cd $(WHEEL_VENV) && bin/python -c "import dglbal, dglbal.distributed; print('dglbal', dglbal.__version__, 'from', dglbal.__file__)"
	cd $(WHEEL_VENV) && bin/dglbal train --dataset synthetic --layers 3 --init bal_o --seeds 1 \
		--epochs 5 --quiet --out smoke
	$(WHEEL_VENV)/bin/pytest -q -p no:cacheprovider tests

check-oldest:
	test -x $(OLDEST_VENV)/bin/python || $(OLDEST_PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_VENV)/bin/python -m pip install --quiet -c constraints-oldest.txt ".[test,plot]"
	$(OLDEST_VENV)/bin/python -m pip check
	$(OLDEST_VENV)/bin/pytest -q -p no:cacheprovider tests

clean:
	rm -rf $(VENV) $(TOOLS_VENV) $(WHEEL_VENV) $(OLDEST_VENV) runs build dist *.egg-info \
		docs/_build docs/api docs/auto_examples docs/sg_execution_times.rst
