"""Routes of the pages of the whole server (see ``scaffold.web.ui.pages``)."""

from scaffold.web.ui import pages

ROUTES = [
    ("GET", "/", pages.dashboard),
    ("GET", "/login", pages.login_page),
    ("POST", "/login", pages.login_submit),
    ("POST", "/logout", pages.logout_submit),
]
