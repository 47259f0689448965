/**
 * The demo page's script (served as `/page.js`). The SDK import below resolves to the
 * `/client.js` bundle in the browser (local/page/client-bundle.ts).
 */
import { NotificationClient, type NotificationFrame } from '../../client/index.js';
import type { PageSettings } from './page-routes.js';

const settings = JSON.parse(document.getElementById('runtime-settings')!.textContent ?? '{}') as PageSettings;

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
}

const connectForm = element<HTMLFormElement>('connect-form');
const connectButton = element<HTMLButtonElement>('connect');
const disconnectButton = element<HTMLButtonElement>('disconnect');
const subscribeForm = element<HTMLFormElement>('subscribe-form');
const subscribeButton = element<HTMLButtonElement>('subscribe');
const publishForm = element<HTMLFormElement>('publish-form');
const stateBadge = element<HTMLOutputElement>('state');
const connectionIdText = element('connection-id');
const channelList = element<HTMLUListElement>('channels');
const notificationList = element<HTMLOListElement>('notifications');
const activityList = element<HTMLOListElement>('activity');

let client: NotificationClient | undefined;
/** Who the server says we are (welcome.userId): the connect form is disabled while connected. */
let connectedUserId: string | undefined;
let notificationCount = 0;

// ---- small rendering pieces ----------------------------------------------------

function node<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, className?: string): HTMLElementTagNameMap[K] {
  const created = document.createElement(tag);
  if (text !== undefined) created.textContent = text;
  if (className) created.className = className;
  return created;
}

function clock(date = new Date()): string {
  return date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

function logActivity(text: string, bad = false): void {
  const item = node('li');
  const time = node('time', clock());
  item.append(time, node('span', text, bad ? 'bad' : undefined));
  activityList.prepend(item);
  while (activityList.children.length > 50) activityList.lastElementChild!.remove();
}

function showResult(id: string, text: string, ok: boolean): void {
  const result = element(id);
  result.textContent = text;
  result.className = `result ${ok ? 'ok' : 'bad'}`;
}

function renderChannels(channels: readonly string[]): void {
  channelList.replaceChildren();
  if (channels.length === 0) {
    channelList.append(node('li', 'none', 'muted'));
    return;
  }
  for (const channel of channels) {
    const chip = node('li', channel);
    const leave = node('button', '×');
    leave.type = 'button';
    leave.title = `Unsubscribe from ${channel}`;
    leave.setAttribute('aria-label', `Unsubscribe from ${channel}`);
    leave.addEventListener('click', () => void unsubscribe(channel));
    chip.append(leave);
    channelList.append(chip);
  }
}

function whereFrom(frame: NotificationFrame): string {
  if (frame.broadcast) return 'broadcast';
  if (frame.targetUserId) return `to ${frame.targetUserId}`;
  return frame.channel ? `#${frame.channel}` : '';
}

function renderNotification(frame: NotificationFrame): void {
  const { payload } = frame;
  const item = node('li', undefined, 'notification');
  item.dataset.priority = payload.priority;
  item.dataset.messageId = frame.messageId;
  const header = node('header');
  header.append(node('h3', payload.title), node('span', payload.priority, 'priority'));
  const meta = node('div', undefined, 'meta');
  meta.append(node('span', whereFrom(frame)), node('time', clock(new Date(payload.createdAt))));
  if (payload.actionUrl) meta.append(node('span', payload.actionUrl));
  item.append(header, node('p', payload.message), meta);
  notificationList.prepend(item);
  notificationCount += 1;
  element('count').textContent = String(notificationCount);
  element('empty').hidden = true;
}

function setConnectedControls(connected: boolean): void {
  connectButton.disabled = connected;
  disconnectButton.disabled = !connected;
  subscribeButton.disabled = !connected;
  connectForm.querySelectorAll('input').forEach((input) => (input.disabled = connected));
}

// ---- actions -------------------------------------------------------------------

/** A token for the chosen user from the runtime's local-only endpoint. */
async function mintToken(userId: string, roles: string[]): Promise<string> {
  const response = await fetch('/_local/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId, roles }),
  });
  const body = (await response.json()) as { token?: string; message?: string };
  if (!response.ok || !body.token) throw new Error(body.message ?? `HTTP ${response.status}`);
  return body.token;
}

async function connect(): Promise<void> {
  const data = new FormData(connectForm);
  const userId = String(data.get('userId') ?? '').trim();
  const roles = data.getAll('role').map(String);
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`;
  const created = new NotificationClient({ url, getToken: () => mintToken(userId, roles) });
  client = created;
  setConnectedControls(true);
  created.on('state', ({ state, error }) => {
    stateBadge.textContent = state;
    stateBadge.dataset.state = state;
    // Red only when the client gave up on its own, not after Disconnect.
    if (state === 'closed' && error) stateBadge.dataset.error = error.code;
    else delete stateBadge.dataset.error;
    logActivity(error ? `${state}: ${error.message}` : state, state === 'closed' && error !== undefined);
    if (state === 'closed') {
      connectedUserId = undefined;
      setConnectedControls(false);
      connectionIdText.textContent = 'not connected';
    }
  });
  created.on('welcome', (welcome) => {
    connectedUserId = welcome.userId;
    connectionIdText.textContent = welcome.connectionId;
    renderChannels(created.channels);
  });
  created.on('notification', renderNotification);
  created.on('recovered', ({ count, complete }) => logActivity(`recovered ${count} after reconnecting${complete ? '' : ' (incomplete)'}`));
  created.on('error', (error) => logActivity(`${error.code}: ${error.message}`, true));
  try {
    const welcome = await created.connect();
    logActivity(`connected as ${welcome.userId}`);
  } catch (error) {
    logActivity(`could not connect: ${(error as Error).message}`, true);
  }
}

async function subscribe(): Promise<void> {
  if (!client) return;
  const channel = String(new FormData(subscribeForm).get('channel') ?? '').trim();
  try {
    const answer = await client.subscribe([channel]);
    renderChannels(answer.channels);
    const refused = answer.rejected[0];
    if (refused) showResult('subscribe-result', `${refused.channel}: ${refused.code} (${refused.reason})`, false);
    else showResult('subscribe-result', `Subscribed to ${channel}`, true);
  } catch (error) {
    showResult('subscribe-result', (error as Error).message, false);
  }
}

async function unsubscribe(channel: string): Promise<void> {
  if (!client) return;
  try {
    const answer = await client.unsubscribe([channel]);
    renderChannels(answer.channels);
    showResult('subscribe-result', `Left ${channel}`, true);
  } catch (error) {
    showResult('subscribe-result', (error as Error).message, false);
  }
}

/**
 * "This user": the connected user (welcome.userId) while connected; before connecting, the
 * user id typed in the connect form, so notifications can wait in their inbox.
 */
function thisUser(): string {
  return connectedUserId ?? String(new FormData(connectForm).get('userId') ?? '').trim();
}

/** Posts a producer record (protocol section 6) to the runtime's MSK stand-in. */
async function publish(): Promise<void> {
  const data = new FormData(publishForm);
  const target = String(data.get('target'));
  const userId = thisUser();
  const record: Record<string, unknown> = {
    type: 'notification',
    payload: {
      notificationId: `demo-${Date.now()}-${crypto.getRandomValues(new Uint32Array(1))[0]}`,
      title: String(data.get('title')),
      message: String(data.get('message')),
      priority: String(data.get('priority')),
      createdAt: new Date().toISOString(),
    },
  };
  if (target === 'user') record.targetUserId = userId;
  if (target === 'channel') record.channel = String(data.get('channel') ?? '').trim();
  if (target === 'broadcast') record.broadcast = true;
  const topic = String(data.get('topic'));
  try {
    const response = await fetch(`/_local/topics/${encodeURIComponent(topic)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(record),
    });
    const summary = (await response.json()) as { delivered?: number; invalid?: { reason?: string }[]; message?: string };
    if (!response.ok) throw new Error(summary.message ?? `HTTP ${response.status}`);
    const invalid = summary.invalid?.[0];
    if (invalid) showResult('publish-result', `Refused: ${invalid.reason ?? 'invalid record'}`, false);
    else showResult('publish-result', `Published; delivered to ${summary.delivered ?? 0} connection(s)`, true);
  } catch (error) {
    showResult('publish-result', `Publish failed: ${(error as Error).message}`, false);
  }
}

// ---- wiring --------------------------------------------------------------------

for (const topic of settings.topics) publishForm.querySelector('select[name="topic"]')!.append(new Option(topic, topic));
for (const channel of settings.channels) element('known-channels').append(new Option(channel));

// The channel field matters only when publishing to a channel.
const targetSelect = publishForm.querySelector<HTMLSelectElement>('select[name="target"]')!;
const publishChannelField = publishForm.querySelector<HTMLInputElement>('input[name="channel"]')!.closest('label')!;
const showPublishChannel = () => (publishChannelField.hidden = targetSelect.value !== 'channel');
targetSelect.addEventListener('change', showPublishChannel);
showPublishChannel();

connectForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void connect();
});
disconnectButton.addEventListener('click', () => {
  void client?.close();
});
subscribeForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void subscribe();
});
publishForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void publish();
});
document.body.dataset.ready = 'true';
