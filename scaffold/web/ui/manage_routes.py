"""Routes of the management pages: cascades list and definition, inputs, datastore, webhooks,
API tokens, admin pages and nodes (see ``manage``, ``data`` and ``admin``)."""

from scaffold.web.ui import admin, data, manage

ROUTES = [
    ("GET", "/cascades", manage.cascades_page),
    ("GET", "/cascades/{cascade}/definition", manage.definition_page),
    ("GET", "/cascades/{cascade}/inputs", data.inputs_page),
    ("GET", "/cascades/{cascade}/datastore", data.datastore_page),
    ("GET", "/cascades/{cascade}/datastore/values/{key}/versions", data.value_versions_fragment),
    ("GET", "/cascades/{cascade}/datastore/files/{name}/versions", data.file_versions_fragment),
    ("GET", "/cascades/{cascade}/webhooks", data.webhooks_page),
    ("GET", "/tokens", admin.tokens_page),
    ("GET", "/admin", admin.users_page),
    ("GET", "/admin/users", admin.users_page),
    ("GET", "/admin/groups", admin.groups_page),
    ("GET", "/admin/audit", admin.audit_page),
    ("GET", "/nodes", admin.nodes_page),
]
