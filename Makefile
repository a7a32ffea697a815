# The README's commands. `make run` starts the portal locally; `make test` runs every test.
.PHONY: run test lint

run:
	bash scripts/run

test:
	bash scripts/test

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
