"""Routes of the task panel, the start dialog, the log download and the shell page
(see ``scaffold.web.ui.task``)."""

from scaffold.web.ui import task

ROUTES = [
    ("GET", "/cascades/{cascade}/tasks/{task}", task.task_panel),
    ("GET", "/cascades/{cascade}/tasks/{task}/runs/{number}/log.txt", task.run_log),
    ("GET", "/cascades/{cascade}/tasks/{task}/shell", task.shell_page),
    ("GET", "/cascades/{cascade}/start-dialog", task.start_dialog),
]
