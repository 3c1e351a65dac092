# Two entry points for a fresh machine: `make demo` and `make test`.
# Both create .venv if it is missing and install dglbal (editable) with its pinned stack.
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

.PHONY: demo test install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=23.1"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/dglbal train --dataset synthetic --model gat --layers 10 \
		--init xavier bal_x bal_o --optimizer adam --seeds 2 --epochs 200 \
		--monitor --out runs/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs build *.egg-info
