PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-cache-dir --upgrade pip
	$(PY) -m pip install --quiet --no-cache-dir torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet --no-cache-dir -r requirements.txt
	touch $(STAMP)

demo: $(STAMP)
	$(PY) cli.py demo

test: $(STAMP)
	$(PY) -m pytest -q tests

bench: $(STAMP)
	$(PY) bench/rle_encode.py
	$(PY) bench/rle_decode.py
	$(PY) bench/sliding_window.py
	$(PY) bench/ensemble_throughput.py
	$(PY) bench/ensemble_postprocess.py
	$(PY) bench/train_throughput.py
	$(PY) bench/channels_last.py
	$(PY) bench/analyze_report.py

clean:
	rm -rf demo_runs .pytest_cache
