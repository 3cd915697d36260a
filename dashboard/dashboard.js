// The dyups dashboard: renders each snapshot the admin streams at /dashboard/events, and changes a server
// through the admin API (PATCH /upstream/NAME/servers/ADDRESS), as a same-origin request.

const RATE_MIN_MS = 500;

/** group\0address -> { requests, failures, at, rate, failureRate }: the baseline of each server's rates */
const baselines = new Map();

/** A server's row -> its cells, state badge and buttons; a group's section -> its balancer label and rows */
const parts = new WeakMap();

function element(tag, attributes = {}, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function formatRate(rate) {
  if (rate === null) return '–';
  return rate < 10 ? rate.toFixed(1) : String(Math.round(rate));
}

/** What a server is now: its switches first, then what the balancer says of it. */
function stateOf(server) {
  if (server.down) return 'down';
  if (server.drain) return 'draining';
  const health = server.health;
  if (health === null) return 'unknown';
  if (health.check === 'down') return 'check down';
  if (!health.available) return 'failing';
  return 'up';
}

/** The server's req/s and failures/s since its baseline, moving the baseline once enough time passed. */
function ratesOf(key, health, at) {
  if (health === null) return { rate: null, failureRate: null };
  const base = baselines.get(key);
  if (base === undefined || health.requests < base.requests) {
    baselines.set(key, { requests: health.requests, failures: health.failures, at, rate: null, failureRate: null });
    return { rate: null, failureRate: null };
  }
  const elapsed = at - base.at;
  if (elapsed >= RATE_MIN_MS) {
    base.rate = ((health.requests - base.requests) * 1000) / elapsed;
    base.failureRate = ((health.failures - base.failures) * 1000) / elapsed;
    base.requests = health.requests;
    base.failures = health.failures;
    base.at = at;
  }
  return base;
}

function showMessage(text, isError) {
  const message = document.getElementById('message');
  message.textContent = text;
  if (isError) message.setAttribute('data-error', '');
  else message.removeAttribute('data-error');
}

/** Sends a change of one server to the admin API and shows its answer. */
async function changeServer(group, address, changes, what) {
  const url = `/upstream/${encodeURIComponent(group)}/servers/${encodeURIComponent(address)}`;
  try {
    const response = await fetch(url, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(changes),
    });
    const text = (await response.text()).trim();
    if (response.ok) showMessage(`${group} ${address}: ${what} (${text})`, false);
    else showMessage(`${group} ${address}: ${what} refused: ${response.status} ${text}`, true);
  } catch (err) {
    showMessage(`${group} ${address}: ${what} failed: ${err.message}`, true);
  }
}

const ACTIONS = [
  { label: 'drain', changes: { drain: true }, what: 'draining', disabledWhen: (s) => s.drain },
  { label: 'down', changes: { down: true }, what: 'marked down', disabledWhen: (s) => s.down },
  { label: 'up', changes: { down: false, drain: false }, what: 'back up', disabledWhen: (s) => !s.down && !s.drain },
];

const SERVER_COLUMNS = ['server', 'weight', 'state', 'active', 'req/s', 'requests', 'failures', 'failures/s', ''];
const NUMBER_COLUMNS = new Set(['weight', 'active', 'req/s', 'requests', 'failures', 'failures/s']);

function serverRow(group, server) {
  const row = element('tr', { 'data-address': server.address });
  const cells = {
    address: element('td', {}, server.address),
    weight: element('td', { class: 'number' }),
    state: element('td'),
    active: element('td', { class: 'number' }),
    rate: element('td', { class: 'number' }),
    requests: element('td', { class: 'number' }),
    failures: element('td', { class: 'number' }),
    failureRate: element('td', { class: 'number' }),
    actions: element('td'),
  };
  const badge = element('span', { class: 'badge' });
  cells.state.append(badge);
  const buttons = ACTIONS.map((action) => {
    const button = element(
      'button',
      { type: 'button', 'aria-label': `${action.label} ${server.address}` },
      action.label,
    );
    button.addEventListener('click', () => {
      void changeServer(group, server.address, action.changes, action.what);
    });
    cells.actions.append(button);
    return button;
  });
  row.append(...Object.values(cells));
  parts.set(row, { cells, badge, buttons });
  return row;
}

function updateServerRow(row, group, server, at) {
  const state = stateOf(server);
  const health = server.health;
  const { rate, failureRate } = ratesOf(`${group}\0${server.address}`, health, at);
  const { cells, badge, buttons } = parts.get(row);
  setText(cells.weight, String(server.weight));
  setText(badge, server.backup && state === 'up' ? 'up (backup)' : state);
  badge.setAttribute('data-state', state);
  row.setAttribute('data-state', state);
  setText(cells.active, health === null ? '–' : String(health.active));
  setText(cells.rate, formatRate(rate));
  setText(cells.requests, health === null ? '–' : String(health.requests));
  setText(cells.failures, health === null ? '–' : String(health.failures));
  setText(cells.failureRate, formatRate(failureRate));
  ACTIONS.forEach((action, i) => {
    buttons[i].disabled = action.disabledWhen(server);
  });
}

function groupSection(group) {
  const section = element('section', { class: 'group', 'data-group': group.name });
  const heading = element('h3', {}, group.name);
  const balancer = element('small');
  heading.append(' ', balancer);
  const table = element('table', { 'aria-label': `servers of ${group.name}` });
  const head = element('tr');
  for (const column of SERVER_COLUMNS)
    head.append(element('th', NUMBER_COLUMNS.has(column) ? { class: 'number' } : {}, column));
  const rows = element('tbody');
  table.append(element('thead'), rows);
  table.tHead.append(head);
  section.append(heading, table);
  parts.set(section, { balancer, rows });
  return section;
}

/** Puts `children` into `parent` in this order, moving only what is out of place, dropping the rest. */
function arrange(parent, children) {
  children.forEach((child, i) => {
    if (parent.children[i] !== child) parent.insertBefore(child, parent.children[i] ?? null);
  });
  while (parent.children.length > children.length) parent.lastElementChild.remove();
}

function renderGroups(snapshot) {
  const container = document.getElementById('groups');
  if (snapshot.groups.length === 0) {
    container.replaceChildren(element('p', { class: 'empty' }, 'no upstream groups'));
    return;
  }
  const sections = snapshot.groups.map((group) => {
    const section =
      [...container.children].find((s) => s.getAttribute('data-group') === group.name) ?? groupSection(group);
    const { balancer, rows: body } = parts.get(section);
    setText(balancer, group.balancer.replace('_', ' '));
    const rows = group.servers.map((server) => {
      const row =
        [...body.children].find((r) => r.getAttribute('data-address') === server.address) ??
        serverRow(group.name, server);
      updateServerRow(row, group.name, server, snapshot.at);
      return row;
    });
    arrange(body, rows);
    return section;
  });
  arrange(container, sections);
}

const SCHEDULER_FIELDS = [
  ['live', 'live coroutines'],
  ['queued', 'queued'],
  ['started', 'started'],
  ['completed', 'completed'],
  ['failed', 'failed'],
  ['cancelled', 'cancelled'],
  ['timedOut', 'timed out'],
  ['rejected', 'rejected (budget)'],
];

function renderScheduler(status) {
  const container = document.getElementById('scheduler');
  if (status === null) {
    container.replaceChildren(element('p', { class: 'empty' }, 'not shown by this process (--workers: see /status)'));
    return;
  }
  const s = status.scheduler;
  const list = element('dl', { 'aria-label': `scheduler ${s.name}` });
  for (const [field, label] of SCHEDULER_FIELDS)
    list.append(element('dt', {}, label), element('dd', {}, String(s[field])));
  const limit = (n) => (n === null ? '∞' : String(n));
  list.append(
    element('dt', {}, 'limits'),
    element('dd', {}, `${limit(s.limits.concurrency)} running, ${limit(s.limits.backlog)} queued`),
  );
  container.replaceChildren(list);
}

const POOL_COLUMNS = [
  ['name', 'pool'],
  ['kind', 'kind'],
  ['size', 'size'],
  ['open', 'open'],
  ['idle', 'idle'],
  ['inUse', 'in use'],
  ['waiting', 'waiting'],
  ['created', 'created'],
  ['reused', 'reused'],
  ['connectFailures', 'connect failures'],
];

function renderPools(status) {
  const container = document.getElementById('pools');
  if (status === null || status.pools.length === 0) {
    container.replaceChildren(
      element('p', { class: 'empty' }, status === null ? 'not shown by this process' : 'no pools'),
    );
    return;
  }
  const table = element('table', { 'aria-label': 'pools' });
  const head = element('tr');
  for (const [field, label] of POOL_COLUMNS)
    head.append(element('th', field === 'name' || field === 'kind' ? {} : { class: 'number' }, label));
  const body = element('tbody');
  for (const pool of [...status.pools].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const row = element('tr');
    for (const [field] of POOL_COLUMNS)
      row.append(element('td', field === 'name' || field === 'kind' ? {} : { class: 'number' }, String(pool[field])));
    body.append(row);
  }
  table.append(element('thead'), body);
  table.tHead.append(head);
  container.replaceChildren(table);
}

function render(snapshot) {
  renderGroups(snapshot);
  renderScheduler(snapshot.status);
  renderPools(snapshot.status);
  const time = new Date(snapshot.at).toLocaleTimeString();
  setText(document.getElementById('updated'), `updated ${time}, table version ${snapshot.version}`);
}

function setConnection(state) {
  const badge = document.getElementById('connection');
  badge.textContent = state;
  badge.setAttribute('data-state', state);
}

const events = new EventSource('/dashboard/events');
events.addEventListener('open', () => setConnection('live'));
events.addEventListener('error', () => setConnection('reconnecting'));
events.addEventListener('snapshot', (event) => {
  setConnection('live');
  render(JSON.parse(event.data));
});
