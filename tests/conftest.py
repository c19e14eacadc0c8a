from __future__ import annotations

pytest_plugins: list[str] = ["guard_fixtures"]
