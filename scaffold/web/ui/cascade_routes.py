"""Routes of the cascade page (see ``scaffold.web.ui.cascade``): the page with its graph, grid and
timeline views, their fragments for live refreshes, and the display states as JSON."""

from scaffold.web.ui import cascade

ROUTES = [
    ("GET", "/cascades/{cascade}", cascade.cascade_page),
    ("GET", "/cascades/{cascade}/states", cascade.cascade_states),
    ("GET", "/cascades/{cascade}/graph", cascade.graph_fragment),
    ("GET", "/cascades/{cascade}/grid", cascade.grid_fragment),
    ("GET", "/cascades/{cascade}/timeline", cascade.timeline_fragment),
]
