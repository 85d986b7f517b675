"""Fixtures shared by the whole suite; each kit area keeps its own in ``v100.kit.testing``.

``tests`` is a package (an ``__init__.py`` in every folder), so a test module is named by its
path (``tests.services.billing.test_crash``) and two folders may hold files of the same name.
The support modules (``tests/support/``, and ``support.py``, ``*_support.py``, ``*_sample.py``
beside the tests) have their asserts rewritten like the tests', so a failing helper says what
it compared."""

from pathlib import Path

import pytest

_HERE = Path(__file__).parent


def _support_modules() -> list[str]:
    found = [
        *_HERE.rglob("support.py"),
        *_HERE.rglob("*_support.py"),
        *_HERE.rglob("*_sample.py"),
        *_HERE.rglob("factories.py"),
        *(_HERE / "support").glob("[!_]*.py"),
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Files with a ``slow`` test first, each file's tests kept together and in order: the
    workers (``--dist loadfile`` hands out whole files in this order) start on the longest
    files, and the short ones fill in at the end, instead of one worker finishing a long file
    alone while the other waits."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)  # stable: the order within each group
