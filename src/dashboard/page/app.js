// The dashboard's page: reads the live feed (server-sent events, read with
// fetch so the bearer token can ride in a header), asks for a token when the
// server wants one, and shows the overview or one run's page by the URL's hash.
import { charts } from './charts.js';
import { duration, queue, recent, runDetail, server, workers } from './render.js';

const TOKEN_KEY = 'offload-dashboard-token';
const $ = (id) => document.getElementById(id);
let latest;
let detailAsked = 0;

function headers() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { authorization: `Bearer ${token}` } : {};
}

function status(text) {
  $('connection').textContent = text;
}

function askForToken(error) {
  $('overview').hidden = true;
  $('run-page').hidden = true;
  $('token-form').hidden = false;
  $('token-error').textContent = error ?? '';
  status('needs a token');
  $('token').focus();
}

async function connect() {
  let response;
  try {
    response = await fetch('/dashboard/api/events', { headers: headers(), cache: 'no-store' });
  } catch {
    return retry('cannot reach the server');
  }
  if (response.status === 401) {
    const body = await response.json().catch(() => ({}));
    return askForToken(sessionStorage.getItem(TOKEN_KEY) ? `The server did not accept that token (${body.error ?? 'unauthenticated'}).` : undefined);
  }
  if (!response.ok || !response.body) return retry(`the server answered ${response.status}`);
  $('token-form').hidden = true;
  status('live');
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += value;
      let end;
      while ((end = buffered.indexOf('\n\n')) >= 0) {
        const event = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        const data = event.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
        if (data) show(JSON.parse(data));
      }
    }
  } catch {
    // The connection dropped: fall through to retry.
  }
  retry('disconnected');
}

function retry(why) {
  status(`${why}; retrying…`);
  setTimeout(connect, 2000);
}

function show(snapshot) {
  latest = snapshot;
  const s = snapshot.server;
  $('server-line').textContent = `${s.draining ? 'DRAINING · ' : ''}v${s.version} · up ${duration(s.uptimeMs)} · ${s.workers} ${s.workers === 1 ? 'worker' : 'workers'}`;
  const busy = snapshot.workers.filter((w) => w.run).length;
  // What a tab shows when the page is in the background.
  document.title = `offload · ${busy}/${snapshot.workers.length} busy · ${snapshot.queue.waiting} waiting${s.draining ? ' · draining' : ''}`;
  const match = /^#run\/(\d+)$/.exec(location.hash);
  $('overview').hidden = Boolean(match);
  $('run-page').hidden = !match;
  if (match) return showRun(Number(match[1]));
  $('workers').replaceChildren(...workers(snapshot).filter(Boolean));
  $('queue').replaceChildren(...queue(snapshot));
  $('recent').replaceChildren(...recent(snapshot));
  $('charts').replaceChildren(...charts(snapshot));
  $('server').replaceChildren(...server(snapshot));
}

/** A run's page is fetched at most once a second, not with every snapshot. */
async function showRun(id) {
  const now = Date.now();
  if (now - detailAsked < 1000 && $('run-title').dataset.run === String(id)) return;
  detailAsked = now;
  $('run-title').dataset.run = String(id);
  $('run-title').textContent = `Run #${id}`;
  const response = await fetch(`/dashboard/api/runs/${id}`, { headers: headers(), cache: 'no-store' }).catch(() => undefined);
  if (!response) return;
  const body = await response.json().catch(() => ({}));
  if (!response.ok) return $('run-detail').replaceChildren(body.error ?? `the server answered ${response.status}`);
  $('run-title').textContent = `Run #${id}: ${body.run.task}`;
  $('run-detail').replaceChildren(...runDetail(body, latest?.at ?? now));
}

$('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
  $('token').value = '';
  $('token-form').hidden = true;
  status('connecting…');
  void connect();
});

addEventListener('hashchange', () => {
  detailAsked = 0;
  if (latest) show(latest);
});

void connect();
