// Builds the page's parts from a snapshot. Every value from the server goes
// into the page as a text node (el() never parses HTML): task names,
// messages and job ids are caller input.

/** An element with attributes and children; strings and numbers become text. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== false) node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A duration for people: 850 ms, 4.2 s, 3 min 5 s, 2 h 10 min. */
export function duration(ms) {
  if (ms === undefined || ms === null) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

const runLink = (run) => el('a', { href: `#run/${run.id}` }, `#${run.id}`);
const percent = (fraction) => `${Math.round(fraction * 100)}%`;

/** Who asked for a run, beyond its tenant: a submitted job's id or a batch item's. */
function origin(run) {
  if (run.job) return `job ${run.job}`;
  if (run.item) return `item ${run.item}`;
  return '';
}

export function progressBar(progress, label) {
  if (!progress) return el('span', { class: 'muted' }, 'no progress reported');
  return el('span', {},
    el('span', { class: 'progress' },
      el('progress', { max: 1, value: progress.fraction, 'aria-label': label }),
      el('span', {}, percent(progress.fraction))),
    progress.message ? el('span', { class: 'message' }, progress.message) : undefined);
}

export function workers(snapshot) {
  const list = el('ul', { class: 'workers' });
  snapshot.workers.forEach((worker, index) => {
    const run = worker.run;
    const name = `Worker ${index + 1}`;
    list.append(el('li', { class: 'worker', 'data-state': run ? 'running' : 'idle' },
      el('strong', {}, name, el('span', { class: 'muted' }, ` (thread ${worker.thread})`)),
      run
        ? [el('span', {}, 'running ', el('b', {}, run.task), ' ', runLink(run), ` for ${duration(run.runningMs)}`, ` · tenant ${run.tenant}`, origin(run) && ` · ${origin(run)}`),
          progressBar(run.progress, `${name}: ${run.task} progress`)]
        : el('span', {}, 'idle')));
  });
  const missing = snapshot.server.workers - snapshot.workers.length;
  return [list, missing > 0 ? el('p', {}, `${missing} of ${snapshot.server.workers} workers are being replaced.`) : undefined];
}

export function table(caption, headings, rows, numeric = []) {
  return el('div', { class: 'scroll' },
    el('table', {},
      el('caption', {}, caption),
      el('thead', {}, el('tr', {}, headings.map((h, i) => el('th', { scope: 'col', class: numeric.includes(i) ? 'number' : undefined }, h)))),
      el('tbody', {}, rows.map((cells) => el('tr', {}, cells.map((cell, i) => el('td', { class: numeric.includes(i) ? 'number' : undefined }, cell)))))));
}

export function queue(snapshot) {
  const { waiting, oldestWaitMs, depths, first } = snapshot.queue;
  if (waiting === 0) return [el('p', {}, 'Nothing is waiting for a worker.')];
  return [
    el('p', {}, `${waiting} ${waiting === 1 ? 'run waits' : 'runs wait'} for a worker; the oldest for ${duration(oldestWaitMs)}.`),
    table('Waiting by priority and tenant', ['Priority', 'Tenant', 'Waiting'], depths.map((d) => [d.priority, d.tenant, String(d.waiting)]), [2]),
    table(first.length < waiting ? `The first ${first.length} in line` : 'In line', ['Run', 'Task', 'Tenant', 'Priority', 'Where', 'Waited'],
      first.map((run) => [runLink(run), run.task, [run.tenant, origin(run) && ` · ${origin(run)}`], run.priority, run.state === 'sent' ? 'next on a busy worker' : 'queued', duration(run.waitedMs)]), [5]),
  ];
}

export function outcome(run) {
  return run.outcome === 'OK' ? 'OK' : [el('b', {}, run.outcome), run.message ? `: ${run.message}` : ''];
}

/** Runs listed on the overview; the snapshot holds more, each reachable by its page. */
const RECENT_SHOWN = 20;

export function recent(snapshot) {
  if (snapshot.recent.length === 0) return [el('p', {}, 'No run has ended yet.')];
  const shown = snapshot.recent.slice(0, RECENT_SHOWN);
  return [table(`The last ${shown.length} runs to end, newest first`, ['Run', 'Task', 'Tenant', 'Outcome', 'Waited', 'Ran', 'Ended'],
    shown.map((run) => [runLink(run), run.task, [run.tenant, origin(run) && ` · ${origin(run)}`], outcome(run), duration(run.queuedMs), duration(run.runMs), `${duration(snapshot.at - run.endedAt)} ago`]), [4, 5, 6])];
}

export function server(snapshot) {
  const s = snapshot.server;
  const facts = [
    ['version', `offload ${s.version} on Node ${s.node}`],
    ['up for', duration(s.uptimeMs)],
    ['state', s.draining ? `draining: ${s.inFlight} calls and jobs still in flight` : `serving, ${s.inFlight} calls and jobs in flight`],
    ['worker restarts', String(snapshot.restarts)],
    ...s.flags.map(([name, value]) => [`--${name}`, value]),
  ];
  const suspended = snapshot.suspended.length === 0
    ? el('p', {}, 'No task is suspended.')
    : table('Suspended tasks (their runs crashed their workers)', ['Task', 'Crashes in a row', 'Refused for'],
      snapshot.suspended.map((t) => [t.task, String(t.crashes), duration(t.forMs)]), [1, 2]);
  return [el('dl', { class: 'facts' }, facts.map(([name, value]) => [el('dt', {}, name), el('dd', {}, value)])), el('h3', {}, 'Suspended tasks'), suspended];
}

/** A run's own page: what it is, where it is, what it reported, how it ended. */
export function runDetail(detail, now) {
  const run = detail.run;
  const events = [[new Date(run.submittedAt).toLocaleTimeString(), 'admitted', `tenant ${run.tenant}${run.priority ? `, ${run.priority} priority` : ''}`]];
  const waited = detail.ended ? run.queuedMs : run.state === 'running' ? run.waitedMs : undefined;
  if (waited !== undefined) events.push([new Date(run.submittedAt + waited).toLocaleTimeString(), 'started', `after waiting ${duration(waited)}${run.thread ? ` on thread ${run.thread}` : ''}`]);
  for (const p of detail.progress) events.push([new Date(p.at).toLocaleTimeString(), 'progress', `${percent(p.fraction)}${p.message ? ` ${p.message}` : ''}`]);
  if (detail.ended) events.push([new Date(run.endedAt).toLocaleTimeString(), 'ended', outcome(run)]);
  const state = detail.ended
    ? el('p', {}, 'Ended: ', outcome(run), ` after running ${duration(run.runMs)}.`)
    : run.state === 'running'
      ? el('div', {}, el('p', {}, `Running for ${duration(run.runningMs)}.`), progressBar(run.progress, `run ${run.id} progress`))
      : el('p', {}, `Waiting for a worker for ${duration(now - run.submittedAt)} (${run.state === 'sent' ? 'next on a busy worker' : 'queued'}).`);
  return [
    el('dl', { class: 'facts' },
      el('dt', {}, 'task'), el('dd', {}, run.task),
      el('dt', {}, 'tenant'), el('dd', {}, run.tenant),
      run.job ? [el('dt', {}, 'job id'), el('dd', {}, run.job)] : undefined,
      run.item ? [el('dt', {}, 'batch item'), el('dd', {}, run.item)] : undefined),
    state,
    table('Events (progress as this page saw it, the newest 20)', ['Time', 'Event', 'Detail'], events),
  ];
}
