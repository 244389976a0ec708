"""Routes of the web UI (filled in by its module)."""

ROUTES: list = []
