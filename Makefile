# The two commands of the README: `make up` runs the platform, `make test` runs the whole suite.
# Both install what they need first (uv, the locked Python dependencies, Debian packages).

.PHONY: up test lint bootstrap clean

UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)

bootstrap:
	@bash scripts/bootstrap.sh

up: bootstrap
	.venv/bin/v100 up

test: bootstrap
	bash scripts/test.sh

lint: bootstrap
	bash scripts/lint.sh

clean:
	rm -rf var .cache/ci
