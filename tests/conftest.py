"""Fixtures shared by the whole suite; each kit area keeps its own in ``v100.kit.testing``.

``tests`` is a package (an ``__init__.py`` in every folder), so a test module is named by its
path (``tests.services.billing.test_crash``) and two folders may hold files of the same name.
The support modules beside the tests (``support.py``, ``*_support.py``, ``*_sample.py``) have
their asserts rewritten like the tests', so a failing helper says what it compared."""

from pathlib import Path

import pytest

_HERE = Path(__file__).parent


def _support_modules() -> list[str]:
    found = [
        *_HERE.rglob("support.py"),
        *_HERE.rglob("*_support.py"),
        *_HERE.rglob("*_sample.py"),
        *_HERE.rglob("factories.py"),
    ]
    return [".".join(path.relative_to(_HERE.parent).with_suffix("").parts) for path in found]


pytest.register_assert_rewrite(*_support_modules())

pytest_plugins: list[str] = [
    "v100.kit.testing.bus",
    "v100.kit.testing.clock",
    "v100.kit.testing.db",
    "v100.kit.testing.jobs",
    "v100.kit.testing.storage",
]
