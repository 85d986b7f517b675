"""Fixtures shared by the whole suite; each kit area keeps its own in ``v100.kit.testing``."""

pytest_plugins: list[str] = [
    "v100.kit.testing.bus",
    "v100.kit.testing.clock",
    "v100.kit.testing.db",
    "v100.kit.testing.jobs",
    "v100.kit.testing.storage",
]
