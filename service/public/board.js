// The task board: the public API only (the same requests as curl would send), no framework, and
// no inline script or style, which the page's Content-Security-Policy forbids.
const byId = (id) => document.getElementById(id);
const view = { priority: "", completed: "", limit: 20, offset: 0 };

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error ?? `HTTP ${status}`);
    this.status = status;
    this.details = Array.isArray(body?.details) ? body.details : [];
  }
}

async function api(method, path, body) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, { error: "The API cannot be reached" });
  }
  const answer = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, answer);
  return answer;
}

function showStatus(message, failed = false) {
  const status = byId("list-status");
  status.textContent = message;
  status.classList.toggle("failed", failed);
}

async function loadStats() {
  const stats = await api("GET", "/stats");
  byId("stat-total").textContent = stats.total_tasks;
  byId("stat-pending").textContent = stats.pending_tasks;
  byId("stat-completed").textContent = stats.completed_tasks;
  for (const priority of ["high", "medium", "low"]) byId(`stat-${priority}`).textContent = stats.by_priority[priority];
}

function taskItem(task) {
  const item = document.createElement("li");
  item.className = task.completed ? "task done" : "task";
  item.dataset.id = task.id;

  const toggle = document.createElement("input");
  toggle.type = "checkbox";
  toggle.id = `task-${task.id}-completed`;
  toggle.checked = task.completed;
  toggle.addEventListener("change", () => setCompleted(task, toggle));

  // textContent throughout: a title is shown as stored, never interpreted as markup.
  const title = document.createElement("label");
  title.htmlFor = toggle.id;
  title.textContent = task.title;

  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "danger";
  remove.id = `task-${task.id}-delete`;
  remove.textContent = "Delete";
  const what = document.createElement("span");
  what.className = "visually-hidden";
  what.textContent = ` “${task.title}”`;
  remove.append(what);
  remove.addEventListener("click", () => deleteTask(task, remove));

  const meta = document.createElement("p");
  meta.className = "meta";
  const badge = document.createElement("span");
  badge.className = `badge ${task.priority}`;
  badge.textContent = task.priority;
  const created = document.createElement("time");
  created.dateTime = task.created_at;
  created.textContent = new Date(task.created_at).toLocaleString();
  meta.append(badge, ` #${task.id} · `, created);

  const error = document.createElement("p");
  error.className = "error";
  error.id = `task-${task.id}-error`;
  toggle.setAttribute("aria-describedby", error.id);

  item.append(toggle, title, remove, meta);
  if (task.description) {
    const description = document.createElement("p");
    description.className = "description";
    description.textContent = task.description;
    item.append(description);
  }
  item.append(error);
  return item;
}

async function loadTasks() {
  const query = new URLSearchParams();
  if (view.priority) query.set("priority", view.priority);
  if (view.completed) query.set("completed", view.completed);
  // One more than a page: whether a next page exists, without a count the API does not give.
  query.set("limit", String(view.limit + 1));
  query.set("offset", String(view.offset));
  const list = byId("tasks");
  list.setAttribute("aria-busy", "true");
  try {
    const page = await api("GET", `/tasks?${query}`);
    // The last task of the last page was deleted (here or elsewhere): show the page before it.
    if (page.tasks.length === 0 && view.offset > 0) {
      view.offset = Math.max(0, view.offset - view.limit);
      return await loadTasks();
    }
    const tasks = page.tasks.slice(0, view.limit);
    // Focus survives the redraw: the control that had it is found again by its id.
    const focused = list.contains(document.activeElement) ? document.activeElement.id : "";
    list.replaceChildren(...tasks.map(taskItem));
    if (focused) byId(focused)?.focus();
    byId("previous-page").disabled = view.offset === 0;
    byId("next-page").disabled = page.tasks.length <= view.limit;
    byId("page-info").textContent = tasks.length ? `${view.offset + 1}–${view.offset + tasks.length}` : "";
    showStatus(tasks.length ? "" : "No tasks here.");
  } finally {
    list.removeAttribute("aria-busy");
  }
}

async function refresh() {
  try {
    await Promise.all([loadTasks(), loadStats()]);
  } catch (error) {
    showStatus(`Could not load the tasks: ${error.message}`, true);
  }
}

async function setCompleted(task, toggle) {
  const error = byId(`task-${task.id}-error`);
  error.textContent = "";
  toggle.disabled = true;
  try {
    await api("PATCH", `/tasks/${task.id}`, { completed: toggle.checked });
  } catch (failure) {
    toggle.checked = !toggle.checked;
    error.textContent = failure.message;
    return;
  } finally {
    toggle.disabled = false;
  }
  showStatus(`“${task.title}” marked ${toggle.checked ? "completed" : "pending"}.`);
  await refresh();
}

async function deleteTask(task, button) {
  const error = byId(`task-${task.id}-error`);
  error.textContent = "";
  button.disabled = true;
  try {
    await api("DELETE", `/tasks/${task.id}`);
  } catch (failure) {
    button.disabled = false;
    error.textContent = failure.message;
    return;
  }
  // The button is gone with its task: focus goes back to the list's heading, not to the page's top.
  byId("list-heading").focus();
  await refresh();
  showStatus(`“${task.title}” deleted.`);
}

function clearErrors(form) {
  for (const error of form.querySelectorAll(".error")) error.textContent = "";
  for (const control of form.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
}

async function addTask(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const submit = form.querySelector("button[type=submit]");
  clearErrors(form);
  const description = form.elements.description.value;
  const body = { title: form.elements.title.value, priority: form.elements.priority.value };
  if (description !== "") body.description = description;
  submit.disabled = true;
  let task;
  try {
    task = await api("POST", "/tasks", body);
  } catch (failure) {
    showFieldErrors(form, failure);
    return;
  } finally {
    submit.disabled = false;
  }
  form.reset();
  form.elements.title.focus();
  view.offset = 0;
  await refresh();
  showStatus(`Added “${task.title}”.`);
}

// Each message from the API goes next to the field it names; one that names no field of the form
// goes under the button.
function showFieldErrors(form, failure) {
  if (failure.details.length === 0) {
    byId("add-error").textContent = failure.message;
    return;
  }
  let first;
  for (const { field, message } of failure.details) {
    const control = form.elements.namedItem(field);
    const error = control ? byId(`${field}-error`) : byId("add-error");
    error.textContent = error.textContent ? `${error.textContent} ${message}` : message;
    if (control) {
      control.setAttribute("aria-invalid", "true");
      first ??= control;
    }
  }
  first?.focus();
}

function changeView(event) {
  const control = event.target;
  view[control.name] = control.name === "limit" ? Number(control.value) : control.value;
  view.offset = 0;
  refresh();
}

// A browser that restores form fields (back, reload) shows the view its controls say.
for (const control of byId("filters").elements) view[control.name] = control.name === "limit" ? Number(control.value) : control.value;
byId("add-form").addEventListener("submit", addTask);
byId("filters").addEventListener("change", changeView);
byId("filters").addEventListener("submit", (event) => event.preventDefault());
byId("previous-page").addEventListener("click", () => {
  view.offset = Math.max(0, view.offset - view.limit);
  refresh();
});
byId("next-page").addEventListener("click", () => {
  view.offset += view.limit;
  refresh();
});
refresh();
