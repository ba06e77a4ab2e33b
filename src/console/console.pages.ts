// The console's pages: plain HTML and one inline stylesheet, no script.
import { createHash } from 'node:crypto'
import type { Decision } from '../entitlements/decide.js'
import type { SubscriptionResponse } from '../billing/billing.schemas.js'
import { consoleUrl, html, trustedHtml, type Html, type HtmlValue } from './html.js'
import type { InboxFilter, InboxSummary, ListedEmailEvent, ListedInboxEvent } from './console.queries.js'

const STYLESHEET = `
:root{--fg:#1d2430;--muted:#5b6575;--line:#d9dee7;--bg:#f6f7f9;--card:#fff;--accent:#2457c5;--ok:#17794a;--warn:#9a6400;--bad:#b4232a}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;flex-wrap:wrap;gap:12px 20px;align-items:center;padding:10px 20px;background:#1d2430;color:#fff}
header a{color:#fff;text-decoration:none;opacity:.85}header a:hover,header a[aria-current]{opacity:1;text-decoration:underline}
header .brand{font-weight:600;opacity:1;margin-right:8px}
header form{display:flex;gap:6px;margin:0}header .spacer{flex:1}
main{max-width:1200px;margin:0 auto;padding:16px 20px 40px}
h1{font-size:20px;margin:8px 0 14px}h2{font-size:16px;margin:22px 0 8px}
a{color:var(--accent)}
input,select,button{font:inherit;padding:5px 8px;border:1px solid var(--line);border-radius:4px;background:#fff;color:var(--fg)}
button{cursor:pointer;background:var(--accent);border-color:var(--accent);color:#fff}
button.quiet{background:transparent;color:inherit;border-color:rgba(255,255,255,.4)}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:10px 14px;min-width:130px}
.card b{display:block;font-size:22px}.card span{color:var(--muted)}a.card{color:inherit;text-decoration:none}a.card:hover{border-color:var(--accent)}
.filters{display:flex;flex-wrap:wrap;gap:8px;align-items:end;margin:14px 0;background:var(--card);border:1px solid var(--line);border-radius:6px;padding:10px}
.filters label{display:flex;flex-direction:column;font-size:12px;color:var(--muted);gap:2px}
table{width:100%;border-collapse:collapse;background:var(--card);border:1px solid var(--line)}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:12px;color:var(--muted);font-weight:600;background:#fbfcfd}
td form{margin:0}
time{white-space:nowrap}
code,.mono{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.events{display:flex;flex-direction:column;gap:6px}
details.event{background:var(--card);border:1px solid var(--line);border-radius:6px}
.event-row,details.event>summary{display:grid;grid-template-columns:175px minmax(170px,1.2fr) minmax(200px,1.6fr) 90px 70px 60px minmax(120px,2fr);gap:8px;padding:7px 10px;align-items:baseline}
details.event>summary{cursor:pointer;list-style:none}details.event>summary:hover{background:#fbfcfd}
.event-row{padding-top:0;padding-bottom:0;font-size:12px;color:var(--muted);font-weight:600}
details.event>summary::-webkit-details-marker{display:none}
details.event[open]>summary{border-bottom:1px solid var(--line)}
.event-body{padding:8px 12px;display:grid;grid-template-columns:minmax(220px,1fr) 2fr;gap:12px}
dl{margin:0;display:grid;grid-template-columns:max-content 1fr;gap:3px 10px}dt{color:var(--muted)}dd{margin:0;overflow-wrap:anywhere}
pre{margin:0;padding:8px;background:#f1f3f6;border-radius:4px;overflow:auto;max-height:360px;font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.badge{display:inline-block;padding:0 6px;border-radius:9px;font-size:12px;font-weight:600;background:#e8ebf0;color:var(--muted)}
.badge.processed,.badge.applied,.badge.delivered,.badge.granted,.badge.active,.badge.trialing,.badge.completed{background:#ddf3e6;color:var(--ok)}
.badge.pending,.badge.stale,.badge.grace,.badge.suppressed,.badge.past_due,.badge.paused{background:#fbefd5;color:var(--warn)}
.badge.failed,.badge.dead,.badge.denied,.badge.canceled{background:#fbe0e1;color:var(--bad)}
.muted{color:var(--muted)}.empty{padding:14px;color:var(--muted);background:var(--card);border:1px dashed var(--line);border-radius:6px}
.notice{padding:8px 12px;border-radius:6px;margin:0 0 12px;background:#e4edfc;border:1px solid #bcd0f5}
.notice.problem{background:#fbe0e1;border-color:#f0b7ba}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(340px,1fr));gap:14px}
.panel{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:12px 14px}
.panel h2{margin-top:0}
.signin{max-width:380px;margin:12vh auto;background:var(--card);border:1px solid var(--line);border-radius:8px;padding:22px}
.signin form{display:flex;flex-direction:column;gap:10px}
@media (max-width:800px){details.event>summary{grid-template-columns:1fr 1fr}.event-body{grid-template-columns:1fr}}
`

/** For the Content-Security-Policy: this stylesheet and nothing else may style the pages; no script at all. */
export const STYLESHEET_HASH = `sha256-${createHash('sha256').update(STYLESHEET).digest('base64')}`

export interface PageContext {
  /** Null on the sign-in page. */
  csrfToken: string | null
  current?: 'inbox' | 'dead-letters' | 'subscription'
  notice?: { text: HtmlValue, problem?: boolean } | null
}

function layout (title: string, context: PageContext, body: Html): string {
  const link = (page: NonNullable<PageContext['current']>, href: string, label: string) =>
    html`<a href="${href}"${context.current === page ? html` aria-current="page"` : ''}>${label}</a>`
  const nav = context.csrfToken === null
    ? html``
    : html`
      ${link('inbox', '/console/inbox', 'Inbox')}
      ${link('dead-letters', '/console/dead-letters', 'Dead letters')}
      <form method="get" action="/console/subscriptions" role="search">
        <input name="id" placeholder="sub_…" aria-label="Subscription id" size="30" required pattern="sub_[a-z0-9]+">
        <button type="submit" class="quiet">Open subscription</button>
      </form>
      <span class="spacer"></span>
      <form method="post" action="/console/sign-out">${csrfField(context.csrfToken)}<button type="submit" class="quiet">Sign out</button></form>`
  const notice = context.notice === undefined || context.notice === null
    ? ''
    : html`<p class="notice${context.notice.problem === true ? ' problem' : ''}" role="status">${context.notice.text}</p>`
  return '<!doctype html>\n' + html`<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>${title} · Billing console</title>
<style>${trustedHtml(STYLESHEET)}</style></head>
<body><header><a class="brand" href="/console/inbox">TrackSera billing</a>${nav}</header>
<main>${notice}<h1>${title}</h1>
${body}</main></body></html>`.text
}

function csrfField (token: string): Html {
  return html`<input type="hidden" name="_csrf" value="${token}">`
}

const badge = (value: string | null | undefined): Html => value === null || value === undefined ? html`<span class="muted">–</span>` : html`<span class="badge ${value}">${value}</span>`

/** Canonical timestamps shortened for reading: seconds, UTC. */
const when = (value: string | null | undefined): Html => value === null || value === undefined
  ? html`<span class="muted">–</span>`
  : html`<time datetime="${value}" title="${value}">${value.slice(0, 10)} ${value.slice(11, 19)}Z</time>`

const subscriptionLink = (id: string | null): HtmlValue => id === null
  ? html`<span class="muted">–</span>`
  : html`<a class="mono" href="${`/console/subscriptions/${encodeURIComponent(id)}`}">${id}</a>`

const duration = (seconds: number): string => seconds < 120
  ? `${seconds} s`
  : seconds < 7200 ? `${Math.round(seconds / 60)} min` : `${Math.round(seconds / 3600)} h`

export function signInPage (options: { ttlMinutes: number, problem?: string, status?: 'signed_out' | 'expired' | undefined }): string {
  const message = options.problem ?? (options.status === 'signed_out' ? 'Signed out.' : options.status === 'expired' ? 'Your session has ended; sign in again.' : null)
  return '<!doctype html>\n' + html`<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Billing console</title>
<style>${trustedHtml(STYLESHEET)}</style></head>
<body><div class="signin">
<h1>Billing console</h1>
${message === null ? '' : html`<p class="notice${options.problem === undefined ? '' : ' problem'}" role="status">${message}</p>`}
<form method="post" action="/console/sign-in" autocomplete="off">
  <label for="token">Internal API token</label>
  <input id="token" name="token" type="password" required autofocus maxlength="1024" autocomplete="off">
  <button type="submit">Sign in</button>
</form>
<p class="muted">One of the service's <code>INTERNAL_API_TOKENS</code>. You stay signed in for ${duration(options.ttlMinutes * 60)}.</p>
</div></body></html>`.text
}

export const INBOX_STATUSES_SHOWN = ['pending', 'failed', 'processed', 'ignored', 'dead'] as const

export function inboxPage (context: PageContext, data: {
  summary: InboxSummary
  filter: InboxFilter
  events: ListedInboxEvent[]
  eventTypes: readonly string[]
}): string {
  const { summary, filter, events } = data
  const filtered = filter.status !== undefined || filter.eventType !== undefined || filter.entityId !== undefined || filter.eventId !== undefined
  const statusLink = (status: string, count: number, label: string) =>
    html`<a class="card" href="${consoleUrl('/console/inbox', { status })}"><b>${count}</b><span>${label}</span></a>`
  return layout('Inbox', { ...context, current: 'inbox' }, html`
<div class="cards">
  ${statusLink('pending', summary.pending, 'pending')}
  ${statusLink('failed', summary.failed, 'failed, retrying')}
  ${statusLink('dead', summary.dead, 'dead')}
  <div class="card"><b>${duration(summary.oldestPendingSeconds)}</b><span>oldest pending waited</span></div>
</div>
<form class="filters" method="get" action="/console/inbox">
  <label>Status<select name="status">
    <option value="">any</option>
    ${INBOX_STATUSES_SHOWN.map((status) => html`<option${filter.status === status ? html` selected` : ''}>${status}</option>`)}
  </select></label>
  <label>Event type<input name="type" list="event-types" value="${filter.eventType ?? ''}" placeholder="subscription.updated" size="26"></label>
  <datalist id="event-types">${data.eventTypes.map((type) => html`<option value="${type}">`)}</datalist>
  <label>Entity id<input name="entity" value="${filter.entityId ?? ''}" placeholder="sub_… ctm_… txn_… adj_…" size="34"></label>
  <label>Event id<input name="event" value="${filter.eventId ?? ''}" placeholder="evt_…" size="30"></label>
  <button type="submit">Filter</button>
  ${filtered ? html`<a href="/console/inbox">clear</a>` : ''}
</form>
<p class="muted">${events.length === filter.limit ? `The ${filter.limit} most recent matching events` : `${events.length} matching event${events.length === 1 ? '' : 's'}`}, newest first. Open one for its stored projection.</p>
${events.length === 0
  ? html`<p class="empty">No event matches.</p>`
  : html`<div class="events">
  <div class="event-row" aria-hidden="true"><span>Received</span><span>Type</span><span>Entity</span><span>Status</span><span>Outcome</span><span>Attempts</span><span>Note or last error</span></div>
  ${events.map(inboxEvent)}</div>`}`)
}

function inboxEvent (event: ListedInboxEvent): Html {
  const retrying = event.status === 'failed' || event.status === 'pending'
  return html`<details class="event" id="${`event-${event.eventId}`}"><summary>
  <span>${when(event.receivedAt)}</span>
  <span class="mono">${event.eventType}</span>
  <span class="mono">${event.entityId ?? '–'}</span>
  <span>${badge(event.status)}</span>
  <span>${badge(event.outcome)}</span>
  <span title="attempts">${event.attempts}</span>
  <span class="muted">${event.note ?? event.lastError ?? ''}</span>
</summary><div class="event-body"><dl>
  <dt>Event</dt><dd class="mono">${event.eventId}</dd>
  <dt>Origin</dt><dd>${event.origin}</dd>
  <dt>Occurred</dt><dd>${when(event.occurredAt)}</dd>
  <dt>Received</dt><dd>${when(event.receivedAt)}</dd>
  <dt>Processed</dt><dd>${when(event.processedAt)}</dd>
  <dt>Status</dt><dd>${badge(event.status)}</dd>
  <dt>Outcome</dt><dd>${badge(event.outcome)}</dd>
  <dt>Note</dt><dd>${event.note ?? html`<span class="muted">–</span>`}</dd>
  <dt>Attempts</dt><dd>${event.attempts}</dd>
  ${retrying ? html`<dt>Next attempt</dt><dd>${when(event.nextAttemptAt)}</dd>` : ''}
  <dt>Last error</dt><dd>${event.lastError ?? html`<span class="muted">–</span>`}</dd>
  <dt>Subscription</dt><dd>${subscriptionLink(event.subscriptionId)}</dd>
  <dt>Customer</dt><dd>${event.customerId === null ? html`<span class="muted">–</span>` : html`<a class="mono" href="${consoleUrl('/console/inbox', { entity: event.customerId })}">${event.customerId}</a>`}</dd>
</dl><div>
  <div class="muted">Stored projection</div>
  ${event.payload === null ? html`<p class="empty">Dropped (past INBOX_PAYLOAD_RETENTION_DAYS, or an envelope-only event type).</p>` : html`<pre>${JSON.stringify(event.payload, null, 2)}</pre>`}
</div></div></details>`
}

export function deadLettersPage (context: PageContext, data: {
  inbox: Array<{ eventId: string, eventType: string, entityId: string | null, subscriptionId: string | null, status: string, attempts: number, lastError: string | null, receivedAt: string }>
  emailEvents: ListedEmailEvent[]
}): string {
  const csrf = context.csrfToken ?? ''
  return layout('Dead letters', { ...context, current: 'dead-letters' }, html`
<h2>Inbox events that could not be applied</h2>
${data.inbox.length === 0
  ? html`<p class="empty">No dead or failed inbox event.</p>`
  : html`<table><thead><tr><th>Received</th><th>Event</th><th>Type</th><th>Entity</th><th>Status</th><th>Attempts</th><th>Last error</th><th></th></tr></thead><tbody>
  ${data.inbox.map((event) => html`<tr>
    <td>${when(event.receivedAt)}</td>
    <td><a class="mono" href="${consoleUrl('/console/inbox', { event: event.eventId })}">${event.eventId}</a></td>
    <td class="mono">${event.eventType}</td>
    <td>${event.subscriptionId === null ? html`<span class="mono">${event.entityId ?? '–'}</span>` : subscriptionLink(event.subscriptionId)}</td>
    <td>${badge(event.status)}</td><td>${event.attempts}</td>
    <td>${event.lastError ?? ''}</td>
    <td><form method="post" action="${`/console/events/${encodeURIComponent(event.eventId)}/redrive`}">
      ${csrfField(csrf)}<input type="hidden" name="back" value="/console/dead-letters">
      <button type="submit">Redrive</button></form></td>
  </tr>`)}
  </tbody></table>`}
<p class="muted">Redrive applies the event again now (attempts start from zero), as <code>POST /internal/admin/events/:eventId/redrive</code> does.</p>
<h2>Email deliveries that failed</h2>
${emailEventsTable(data.emailEvents, csrf, '/console/dead-letters')}
<p class="muted">Dead deliveries go back in the queue with Redeliver (<code>POST /internal/email-events/:id/redeliver</code>); pending ones with an error are still being retried.</p>`)
}

function emailEventsTable (events: ListedEmailEvent[], csrf: string, back: string): Html {
  if (events.length === 0) return html`<p class="empty">None.</p>`
  return html`<table><thead><tr><th>Created</th><th>Email event</th><th>Type</th><th>Subscription</th><th>Status</th><th>Attempts</th><th>Last error</th><th></th></tr></thead><tbody>
  ${events.map((event) => html`<tr>
    <td>${when(event.createdAt)}</td>
    <td class="mono">${event.id}</td>
    <td class="mono">${event.type}</td>
    <td>${subscriptionLink(event.subscriptionId)}</td>
    <td>${badge(event.status)}</td>
    <td>${event.attempts}</td>
    <td>${event.lastStatusCode === null ? '' : `HTTP ${event.lastStatusCode}: `}${event.lastError ?? ''}</td>
    <td>${event.status === 'dead'
      ? html`<form method="post" action="${`/console/email-events/${encodeURIComponent(event.id)}/redeliver`}">
        ${csrfField(csrf)}<input type="hidden" name="back" value="${back}"><button type="submit">Redeliver</button></form>`
      : ''}</td>
  </tr>`)}
  </tbody></table>`
}

export interface TimelineEntry {
  eventId: string
  eventType: string
  entityType: string
  entityId: string | null
  occurredAt: string
  status: string
  outcome: string | null
  note: string | null
  attempts: number
  emailEvents: Array<{ id: string, type: string, status: string }>
}

export function subscriptionPage (context: PageContext, data: {
  id: string
  subscription: SubscriptionResponse | null
  version: string | null
  entitlement: { decision: Decision, asOf: string, subscriptionCount: number } | null
  timeline: TimelineEntry[]
  emailEvents: ListedEmailEvent[]
}): string {
  const { subscription, entitlement } = data
  const row = (label: string, value: HtmlValue) => html`<dt>${label}</dt><dd>${value ?? html`<span class="muted">–</span>`}</dd>`
  const back = `/console/subscriptions/${data.id}`
  return layout(`Subscription ${data.id}`, { ...context, current: 'subscription' }, html`
<div class="grid2">
<section class="panel"><h2>State</h2>
${subscription === null
  ? html`<p class="empty">No state: none of this subscription's events has been applied yet (see the timeline).</p>`
  : html`<dl>
  ${row('Status', badge(subscription.status))}
  ${row('Account', subscription.accountId === null ? null : html`<span class="mono">${subscription.accountId}</span>`)}
  ${row('Customer', subscription.customerId === null ? null : html`<a class="mono" href="${consoleUrl('/console/inbox', { entity: subscription.customerId })}">${subscription.customerId}</a>`)}
  ${row('Items', subscription.items.length === 0 ? null : subscription.items.map((item) => html`<div class="mono">${item.quantity} × ${item.priceId}${item.status === null ? '' : ` (${item.status})`}</div>`))}
  ${row('Billing cycle', subscription.billingCycle === null ? null : `every ${subscription.billingCycle.frequency} ${subscription.billingCycle.interval}`)}
  ${row('Current period', subscription.currentBillingPeriod === null ? null : html`${when(subscription.currentBillingPeriod.startsAt)} → ${when(subscription.currentBillingPeriod.endsAt)}`)}
  ${row('Next billed', subscription.nextBilledAt === null ? null : when(subscription.nextBilledAt))}
  ${row('Scheduled change', subscription.scheduledChange === null ? null : html`${subscription.scheduledChange.action} at ${when(subscription.scheduledChange.effectiveAt)}`)}
  ${row('Trial ends', subscription.trialEndsAt === null ? null : when(subscription.trialEndsAt))}
  ${row('Started', subscription.startedAt === null ? null : when(subscription.startedAt))}
  ${row('Paused', subscription.pausedAt === null ? null : when(subscription.pausedAt))}
  ${row('Canceled', subscription.canceledAt === null ? null : when(subscription.canceledAt))}
  ${row('Paddle updated', subscription.updatedAt === null ? null : when(subscription.updatedAt))}
  ${row('Version', data.version === null ? null : html`<span class="mono">${data.version}</span>`)}
</dl>`}
</section>
<section class="panel"><h2>Entitlement of its account</h2>
${entitlement === null
  ? html`<p class="empty">The subscription has no account yet, so no entitlement depends on it.</p>`
  : html`<dl>
  ${row('Access', badge(entitlement.decision.access))}
  ${row('Reason', html`<code>${entitlement.decision.reason}</code>`)}
  ${row('Until', entitlement.decision.until === null ? null : when(entitlement.decision.until))}
  ${row('Decided by', entitlement.decision.subscription === null ? null : subscriptionLink(entitlement.decision.subscription.id))}
  ${row('Subscriptions of the account', String(entitlement.subscriptionCount))}
  ${row('As of', when(entitlement.asOf))}
</dl><p class="muted">What <code>GET /internal/accounts/:accountId/entitlement</code> answers now.</p>`}
</section>
</div>
<h2>Timeline</h2>
${data.timeline.length === 0
  ? html`<p class="empty">No Paddle event touched this subscription.</p>`
  : html`<table><thead><tr><th>Occurred</th><th>Event</th><th>Entity</th><th>Status</th><th>Outcome</th><th>Note</th><th>Email events</th></tr></thead><tbody>
  ${data.timeline.map((event) => html`<tr>
    <td>${when(event.occurredAt)}</td>
    <td><a class="mono" href="${consoleUrl('/console/inbox', { event: event.eventId })}">${event.eventType}</a></td>
    <td class="mono">${event.entityType === 'subscription' ? '' : event.entityId}</td>
    <td>${badge(event.status)}${event.attempts > 1 ? html` <span class="muted">${event.attempts} attempts</span>` : ''}</td>
    <td>${badge(event.outcome)}</td>
    <td>${event.note ?? ''}</td>
    <td>${event.emailEvents.map((email) => html`<div><span class="mono">${email.type}</span> ${badge(email.status)}</div>`)}</td>
  </tr>`)}
  </tbody></table>`}
<h2>Email events</h2>
${data.emailEvents.length === 0
  ? html`<p class="empty">None.</p>`
  : emailEventsTable(data.emailEvents, context.csrfToken ?? '', back)}`)
}

export function errorPage (context: PageContext, title: string, message: string): string {
  return layout(title, context, html`<p>${message}</p><p><a href="/console/inbox">Back to the inbox</a></p>`)
}
