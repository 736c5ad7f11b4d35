# convrnn: the two set-up commands of the README.
#   make demo  - virtual environment, install, MNIST digits, train a small ms-convlstm on Moving MNIST (CPU),
#                test it against the copy-last-frame baseline, print where the metrics and the GIF are
#   make test  - virtual environment, install with the test tools and optional extras, run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUN ?= runs/demo

.PHONY: demo test install install-test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]" torch==2.13.0

# the tests also exercise the optional KTH video reader (PyAV), the pysteps baseline, NetCDF input
# (xarray), a real NetCDF file from PyPI (hvsampledata), ONNX export (onnx, onnxruntime) and
# Hub bundles (huggingface_hub, its network calls replaced by fakes)
install-test: install
	$(BIN)/pip install --quiet -e ".[dev,video,nowcast,xarray,testdata,onnx,hub]" torch==2.13.0

demo: install
	$(BIN)/convrnn data mnist
	rm -rf $(RUN)
	$(BIN)/convrnn train --config recipes/demo.yaml --out $(RUN)
	$(BIN)/convrnn test $(RUN)
	@echo "demo done: metrics in $(RUN)/metrics.json, pictures and GIFs in $(RUN)/test-results/"

test: install-test
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) runs
