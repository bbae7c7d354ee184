# `make test` and `make demo` each set up everything on a fresh machine by themselves.
PY      ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
APT_PKGS := gfortran dataset-fashion-mnist
DEMO_OUT ?= runs/demo

.PHONY: test demo system-deps venv clean

# apt packages: gfortran builds py3nj (escnn); dataset-fashion-mnist is the offline default data.
system-deps:
	@missing=""; \
	command -v gfortran >/dev/null 2>&1 || missing="$$missing gfortran"; \
	[ -d /usr/share/datasets/fashion-mnist ] || missing="$$missing dataset-fashion-mnist"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $$missing; \
	  else echo "eqnas: please install:$$missing (apt-get install -y$$missing)"; exit 2; fi; \
	fi

$(STAMP): pyproject.toml | system-deps
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel
	$(BIN)/pip install -q -e ".[test]"
	# medmnist without its torchvision requirement (see pyproject.toml)
	$(BIN)/pip install -q --no-deps medmnist==3.0.2
	touch $(STAMP)

venv: system-deps $(STAMP)

# one worker per core (at most 4: each holds torch and escnn), one torch thread each, so the
# CLI subprocesses that tests start do not compete with the other worker for the cores
test: venv
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n auto --maxprocesses 4

demo: venv
	$(BIN)/eqnas demo --out $(DEMO_OUT)

clean:
	rm -rf $(VENV) runs
