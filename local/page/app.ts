/**
 * The demo page's script (served as `/page.js`). The SDK import below resolves to the
 * `/client.js` bundle in the browser (local/page/client-bundle.ts).
 */
import { NotificationClient, type InboxReplyPayload, type MembersReplyPayload, type NotificationFrame } from '../../client/index.js';
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
const presenceForm = element<HTMLFormElement>('presence-form');
const presenceJoinButton = element<HTMLButtonElement>('presence-join');
const memberList = element<HTMLUListElement>('members');
const bellButton = element<HTMLButtonElement>('bell');
const unreadBadge = element('unread-badge');
const inboxCard = element('inbox-card');
const inboxList = element<HTMLOListElement>('inbox-items');
const markAllButton = element<HTMLButtonElement>('mark-all-read');
const inboxMoreButton = element<HTMLButtonElement>('inbox-more');
const userOption = publishForm.querySelector<HTMLOptionElement>('select[name="target"] option[value="user"]')!;

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
  // Left through its chip (or refused on a reconnect): the panel no longer shows it.
  if (presenceChannel !== undefined && !channels.includes(presenceChannel)) clearPresence();
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
  presenceJoinButton.disabled = !connected;
  connectForm.querySelectorAll('input').forEach((input) => {
    input.disabled = connected;
  });
  showThisUser();
}

/** The publish form names who "this user" is, so nobody has to guess. */
function showThisUser(): void {
  const userId = thisUser();
  userOption.textContent = userId ? `this user (${userId})` : 'this user';
}

// ---- presence panel ------------------------------------------------------------

interface Member {
  readonly connections: number;
  readonly joinedAt: string;
}

/** The presence channel the panel shows, its members as last told, and whether the list is cut short. */
let presenceChannel: string | undefined;
let members = new Map<string, Member>();
let membersTruncated = false;
let membersCount = 0;

function renderMembers(): void {
  memberList.replaceChildren();
  element('presence-actions').hidden = presenceChannel === undefined;
  element('members-empty').hidden = presenceChannel !== undefined;
  const countBadge = element('member-count');
  countBadge.hidden = presenceChannel === undefined;
  countBadge.textContent = String(membersTruncated ? membersCount : members.size);
  if (presenceChannel === undefined) return;
  // Oldest member first, as people arrived; the connected user is marked.
  const sorted = [...members].sort(([a, first], [b, second]) => first.joinedAt.localeCompare(second.joinedAt) || a.localeCompare(b));
  for (const [userId, member] of sorted) {
    const item = node('li', undefined, 'member');
    item.dataset.userId = userId;
    const avatar = node('span', userId.slice(0, 1).toUpperCase(), 'avatar');
    avatar.setAttribute('aria-hidden', 'true');
    const who = node('span', userId, 'who');
    if (userId === connectedUserId) who.append(node('span', ' (you)', 'you'));
    const connections = node('span', `${member.connections} connection${member.connections === 1 ? '' : 's'}`, 'connections');
    connections.dataset.connections = String(member.connections);
    const joined = node('time', `joined ${clock(new Date(member.joinedAt))}`);
    joined.dateTime = member.joinedAt;
    item.append(avatar, who, connections, joined);
    memberList.append(item);
  }
  if (membersTruncated) memberList.append(node('li', `${membersCount} members: too many to list, so no joins or leaves are sent`, 'muted'));
}

function showMembers(answer: MembersReplyPayload): void {
  if (answer.channel !== presenceChannel) return;
  members = new Map(Object.entries(answer.members));
  membersTruncated = answer.truncated;
  membersCount = answer.count;
  renderMembers();
}

function clearPresence(): void {
  presenceChannel = undefined;
  members = new Map();
  membersTruncated = false;
  renderMembers();
}

// ---- inbox ---------------------------------------------------------------------

type InboxItem = InboxReplyPayload['items'][number];

/** The inbox pages loaded so far, newest first, and where the next page starts. */
let inboxItems: InboxItem[] = [];
let inboxCursor: string | undefined;
let inboxRefresh: ReturnType<typeof setTimeout> | undefined;
const INBOX_PAGE = 10;

function renderUnread(count: number | undefined): void {
  const known = count !== undefined;
  unreadBadge.hidden = !known || count === 0;
  unreadBadge.textContent = String(count ?? 0);
  unreadBadge.dataset.count = String(count ?? 0);
  bellButton.setAttribute('aria-label', known ? `Inbox: ${count} unread` : 'Inbox: not connected');
  element('inbox-unread').textContent = known ? `${count} unread` : 'not connected';
  markAllButton.disabled = !known || count === 0;
}

function renderInbox(): void {
  inboxList.replaceChildren();
  const connected = connectedUserId !== undefined;
  const empty = element('inbox-empty');
  empty.hidden = connected && inboxItems.length > 0;
  if (connected && inboxItems.length === 0) empty.textContent = 'Your inbox is empty. Publish a notification to “this user”.';
  for (const entry of inboxItems) {
    const { notification } = entry;
    const item = node('li', undefined, 'inbox-item');
    item.dataset.messageId = entry.messageId;
    item.dataset.read = String(entry.read);
    item.dataset.priority = notification.priority;
    const header = node('header');
    header.append(node('h3', notification.title), node('span', notification.priority, 'priority'));
    const time = node('time', clock(new Date(entry.timestamp)));
    time.dateTime = entry.timestamp;
    const meta = node('div', undefined, 'meta');
    meta.append(time, node('span', entry.read ? 'read' : 'unread', 'read-state'));
    if (!entry.read) {
      const mark = node('button', 'Mark read', 'secondary small mark-read');
      mark.type = 'button';
      mark.setAttribute('aria-label', `Mark “${notification.title}” read`);
      mark.addEventListener('click', () => void markRead([entry.messageId], mark));
      meta.append(mark);
    }
    item.append(header, node('p', notification.message), meta);
    inboxList.append(item);
  }
  inboxMoreButton.hidden = !connected || inboxCursor === undefined;
}

function clearInbox(): void {
  clearTimeout(inboxRefresh);
  inboxItems = [];
  inboxCursor = undefined;
  element('inbox-empty').textContent = 'Notifications sent to you (“this user”) wait here, read or unread, on every device. Connect to see them.';
  renderUnread(undefined);
  renderInbox();
}

/**
 * Reloads the pages shown (at most 100 items) when the unread count changes: a new
 * notification, or a markRead from another window, whose `inboxState` tells the count
 * but reaches the app only as an `unread` event. Bursts are coalesced.
 */
function scheduleInboxRefresh(): void {
  clearTimeout(inboxRefresh);
  inboxRefresh = setTimeout(() => void reloadInbox(), 100);
}

async function reloadInbox(): Promise<void> {
  const current = client;
  if (!current || connectedUserId === undefined) return;
  try {
    const answer = await current.inbox({ limit: Math.min(100, Math.max(INBOX_PAGE, inboxItems.length)) });
    if (current !== client) return;
    inboxItems = answer.items;
    inboxCursor = answer.nextCursor;
    renderInbox();
  } catch (error) {
    logActivity(`inbox: ${(error as Error).message}`, true);
  }
}

async function loadMoreInbox(): Promise<void> {
  const current = client;
  if (!current || inboxCursor === undefined) return;
  inboxMoreButton.disabled = true;
  try {
    const answer = await current.inbox({ limit: INBOX_PAGE, before: inboxCursor });
    const known = new Set(inboxItems.map((item) => item.messageId));
    inboxItems = [...inboxItems, ...answer.items.filter((item) => !known.has(item.messageId))];
    inboxCursor = answer.nextCursor;
    renderInbox();
  } catch (error) {
    logActivity(`inbox: ${(error as Error).message}`, true);
  } finally {
    inboxMoreButton.disabled = false;
  }
}

async function markRead(ids: string[] | 'all', button: HTMLButtonElement): Promise<void> {
  if (!client) return;
  button.disabled = true;
  try {
    const answer = await client.markRead(ids);
    // What this answer changed shows at once; the `unread` event then reloads the truth.
    const done = new Set(ids === 'all' ? inboxItems.map((item) => item.messageId) : [...ids, ...answer.read]);
    inboxItems = inboxItems.map((item) => (done.has(item.messageId) ? { ...item, read: true } : item));
    renderInbox();
    logActivity(ids === 'all' ? `marked all read (${answer.read.length} changed)` : `marked ${answer.read.length} read`);
  } catch (error) {
    logActivity(`mark read: ${(error as Error).message}`, true);
    button.disabled = false;
  }
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
  const created = new NotificationClient({
    url,
    getToken: () => mintToken(userId, roles),
    // A reload resumes where this tab's client stood (per user: the page can switch users).
    storage: sessionStorage,
    storageKey: `notifications:positions:${userId}`,
  });
  client = created;
  setConnectedControls(true);
  created.on('state', ({ state, error }) => {
    stateBadge.textContent = state;
    stateBadge.dataset.state = state;
    // Red only when the client gave up on its own, not after Disconnect.
    if (state === 'closed' && error) stateBadge.dataset.error = error.code;
    else delete stateBadge.dataset.error;
    logActivity(error ? `${state}: ${error.message}` : state, state === 'closed' && error !== undefined);
    if (state === 'closed' && client === created) {
      connectedUserId = undefined;
      setConnectedControls(false);
      connectionIdText.textContent = 'not connected';
      clearPresence();
      clearInbox();
    }
  });
  created.on('welcome', (welcome) => {
    connectedUserId = welcome.userId;
    showThisUser();
    connectionIdText.textContent = welcome.connectionId;
    renderChannels(created.channels);
    renderUnread(created.unreadCount);
    scheduleInboxRefresh();
  });
  created.on('unread', ({ count }) => {
    renderUnread(count);
    scheduleInboxRefresh();
  });
  // After a reconnect the SDK asks `members` again by itself: the list heals from what it missed.
  created.on('members', showMembers);
  created.on('join', ({ channel, userId }) => {
    if (channel !== presenceChannel) return;
    logActivity(`${userId} joined ${channel}`);
    // A join is a user's first connection in the channel, arriving now.
    if (!members.has(userId)) members.set(userId, { connections: 1, joinedAt: new Date().toISOString() });
    renderMembers();
  });
  created.on('leave', ({ channel, userId }) => {
    if (channel !== presenceChannel) return;
    logActivity(`${userId} left ${channel}`);
    members.delete(userId);
    renderMembers();
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

/** Subscribes to a presence channel and shows who is in it; one channel at a time. */
async function joinPresence(): Promise<void> {
  const current = client;
  if (!current) return;
  const channel = String(new FormData(presenceForm).get('channel') ?? '').trim();
  const previous = presenceChannel;
  try {
    const answer = await current.subscribe([channel]);
    renderChannels(answer.channels);
    const refused = answer.rejected[0];
    if (refused) {
      showResult('presence-result', `${refused.channel}: ${refused.code} (${refused.reason})`, false);
      return;
    }
    // Asked before the panel switches: a channel that is not a presence channel leaves it as it was.
    const list = await current.members(channel);
    presenceChannel = channel;
    showMembers(list);
    showResult('presence-result', `In ${channel}`, true);
    if (previous !== undefined && previous !== channel) renderChannels((await current.unsubscribe([previous])).channels);
  } catch (error) {
    const failure = error as Error & { code?: string };
    // FORBIDDEN: subscribed, but not a presence channel (channels.presence).
    const text = failure.code === 'FORBIDDEN' ? `${channel} is not a presence channel (channels.presence in Config.toml)` : failure.message;
    showResult('presence-result', text, false);
  }
}

async function refreshPresence(): Promise<void> {
  if (!client || presenceChannel === undefined) return;
  try {
    showMembers(await client.members(presenceChannel));
  } catch (error) {
    showResult('presence-result', (error as Error).message, false);
  }
}

async function leavePresence(): Promise<void> {
  if (!client || presenceChannel === undefined) return;
  const channel = presenceChannel;
  try {
    renderChannels((await client.unsubscribe([channel])).channels);
    clearPresence();
    showResult('presence-result', `Left ${channel}`, true);
  } catch (error) {
    showResult('presence-result', (error as Error).message, false);
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
for (const channel of settings.presenceChannels) element('presence-channels').append(new Option(channel));
if (settings.presenceChannels.length === 0) {
  element('members-empty').textContent = 'This runtime has no presence channels: list some under channels.presence in Config.toml.';
}

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
presenceForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void joinPresence();
});
element('presence-refresh').addEventListener('click', () => void refreshPresence());
element('presence-leave').addEventListener('click', () => void leavePresence());
bellButton.addEventListener('click', () => {
  inboxCard.scrollIntoView({ behavior: 'smooth', block: 'start' });
  inboxCard.focus({ preventScroll: true });
});
markAllButton.addEventListener('click', () => void markRead('all', markAllButton));
inboxMoreButton.addEventListener('click', () => void loadMoreInbox());
connectForm.querySelector('input[name="userId"]')!.addEventListener('input', showThisUser);
showThisUser();
subscribeForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void subscribe();
});
publishForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void publish();
});
document.body.dataset.ready = 'true';
