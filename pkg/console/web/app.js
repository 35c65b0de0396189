// iga console: vanilla JS, no build step. Talks to the console's JSON API under /api/.
// Every piece of data reaches the page through textContent, never as HTML.
'use strict';

(() => {
  const $ = (sel) => document.querySelector(sel);
  const store = {
    get(k) { try { return localStorage.getItem(k) || ''; } catch { return ''; } },
    set(k, v) { try { v ? localStorage.setItem(k, v) : localStorage.removeItem(k); } catch { /* private mode */ } },
  };

  const state = {
    as: store.get('iga.as'),
    person: null,
    conversation: '',
    tab: 'requests',
    showPast: false,
    busy: false,
    events: null,
    notices: null,
    eventIds: new Set(),
    refreshTimer: 0,
    eventsOpenedAt: 0,
  };

  // ---------- helpers ----------

  class ApiError extends Error {
    constructor(message, status) { super(message); this.status = status; }
  }

  async function api(method, path, body) {
    let resp;
    try {
      resp = await fetch(path, {
        method,
        headers: body ? { 'Content-Type': 'application/json' } : {},
        body: body ? JSON.stringify(body) : undefined,
      });
    } catch {
      throw new ApiError('The console is not reachable: is `iga dev` running?', 0);
    }
    let data = null;
    try { data = await resp.json(); } catch { /* not JSON */ }
    if (!resp.ok) {
      throw new ApiError((data && data.error) || `The console answered ${resp.status} ${resp.statusText}.`, resp.status);
    }
    return data || {};
  }

  function el(tag, attrs, ...children) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') n.className = v;
      else if (k === 'text') n.textContent = v;
      else if (k.startsWith('on')) n.addEventListener(k.slice(2), v);
      else if (k === 'dataset') Object.assign(n.dataset, v);
      else n.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      n.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return n;
  }

  const unreachable = (e) => e && (e.status === 0 || e.status === 503 || e.status === 504);

  function showBanner(msg) {
    $('#banner-text').textContent = msg;
    $('#banner').hidden = false;
  }
  function hideBanner() { $('#banner').hidden = true; }

  let toastTimer = 0;
  function toast(msg) {
    const t = $('#toast');
    t.textContent = msg;
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { t.hidden = true; }, 3500);
  }

  function initials(name, email) {
    const src = (name || email || '?').replace(/@.*/, '').split(/[\s._-]+/).filter(Boolean);
    return ((src[0] || '?')[0] + (src[1] ? src[1][0] : '')).toUpperCase();
  }

  function enumWord(v, prefix) {
    return String(v || '').replace(prefix, '').replace(/_/g, ' ').toLowerCase();
  }

  function seconds(d) { // protojson Duration: "28800s", "1.5s"
    const n = parseFloat(String(d || '0').replace(/s$/, ''));
    return Number.isFinite(n) ? n : 0;
  }

  // humanDuration says a duration the way the agent does: "8 hours", "1 day 13 hours".
  function humanDuration(sec) {
    sec = Math.round(sec);
    if (sec <= 0) return '';
    if (sec % 604800 === 0) { const w = sec / 604800; return `${w} week${w === 1 ? '' : 's'}`; }
    const units = [['day', 86400], ['hour', 3600], ['minute', 60]];
    const parts = [];
    for (const [name, size] of units) {
      const n = Math.floor(sec / size);
      sec -= n * size;
      if (n > 0) parts.push(`${n} ${name}${n === 1 ? '' : 's'}`);
    }
    return parts.slice(0, 2).join(' ') || 'under a minute';
  }

  function countdown(ms) {
    if (ms <= 0) return 'expired';
    let s = Math.floor(ms / 1000);
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    const pad = (x) => String(x).padStart(2, '0');
    return d > 0 ? `${d}d ${pad(h)}h ${pad(m)}m ${pad(s)}s` : `${pad(h)}h ${pad(m)}m ${pad(s)}s`;
  }

  function ago(ts) {
    if (!ts) return '';
    const diff = (Date.now() - new Date(ts).getTime()) / 1000;
    if (diff < 45) return 'just now';
    if (diff < 3600) return `${Math.round(diff / 60)} min ago`;
    if (diff < 86400) return `${Math.round(diff / 3600)} h ago`;
    return `${Math.round(diff / 86400)} days ago`;
  }

  function when(ts) {
    if (!ts) return '';
    return new Date(ts).toLocaleString(undefined, { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
  }

  function clock(ts) {
    return new Date(ts || Date.now()).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  }

  function entitlement(id) {
    const [app, ...rest] = String(id || '').split(':');
    const name = rest.join(':');
    return el('span', { class: 'ent' }, name ? [el('span', { class: 'ent-app', text: app + ' · ' }), name] : app);
  }

  function loading(list) {
    if (!list.firstChild) list.replaceChildren(el('p', { class: 'loading', text: 'Loading…' }));
  }

  function failed(list, e) {
    list.replaceChildren(el('p', { class: 'error-box', role: 'alert', text: e.message }));
    if (unreachable(e)) showBanner(e.message);
  }

  // ---------- sign in ----------

  async function signIn(email) {
    const err = $('#signin-error');
    err.textContent = '';
    email = String(email || '').trim().toLowerCase();
    if (!email || !email.includes('@')) {
      err.textContent = 'Enter your work email, for example dana.reyes@acme.example.';
      $('#signin-email').focus();
      return;
    }
    const btn = $('#signin-submit');
    btn.disabled = true;
    try {
      const resp = await api('GET', `/api/person?email=${encodeURIComponent(email)}`);
      hideBanner();
      enter(email, resp.person || { email });
    } catch (e) {
      err.textContent = e.status === 404 ? `No one with the email ${email} is in the directory.` : e.message;
      if (unreachable(e)) showBanner(e.message);
    } finally {
      btn.disabled = false;
    }
  }

  function enter(email, person) {
    state.as = email;
    state.person = person;
    store.set('iga.as', email);
    state.conversation = store.get(`iga.conversation.${email}`);
    $('#who-avatar').textContent = initials(person.name, email);
    $('#who-name').textContent = person.name || email;
    $('#who-detail').textContent = person.title ? `${person.title} · ${email}` : email;
    $('#whoami').hidden = false;
    $('#signin').hidden = true;
    $('#app').hidden = false;
    restoreChat();
    refreshAll();
    connectEvents();
    connectNotices();
    $('#chat-input').focus();
  }

  function signOut() {
    state.as = '';
    state.person = null;
    store.set('iga.as', '');
    if (state.events) { state.events.close(); state.events = null; }
    if (state.notices) { state.notices.close(); state.notices = null; }
    $('#toast').hidden = true;
    $('#events-list').replaceChildren();
    state.eventIds.clear();
    for (const id of ['#requests-list', '#approvals-list', '#grants-list']) $(id).replaceChildren();
    $('#approvals-count').hidden = true;
    $('#whoami').hidden = true;
    $('#app').hidden = true;
    $('#signin').hidden = false;
    $('#signin-email').value = '';
    $('#signin-email').focus();
  }

  // ---------- chat ----------

  const shown = []; // what the conversation showed, kept so a reload keeps it

  function chatKey() { return `iga.chat.${state.as}`; }

  function restoreChat() {
    shown.length = 0;
    $('#messages').replaceChildren();
    let saved = [];
    try { saved = JSON.parse(store.get(chatKey()) || '[]'); } catch { saved = []; }
    if (!saved.length) { emptyChat(); return; }
    for (const m of saved) addMessage(m, false);
    scrollChat();
  }

  function saveChat() { store.set(chatKey(), JSON.stringify(shown.slice(-60))); }

  function emptyChat() {
    const ask = (text) => el('button', { type: 'button', class: 'chip', onclick: () => send(text, '') }, text);
    $('#messages').replaceChildren(el('li', { class: 'empty-chat' },
      el('strong', { text: 'What do you need access to?' }),
      'Describe the task; iga works out the app, the role and how long.',
      el('div', { class: 'suggestions' },
        ask('I need to look at the payments dashboards for the audit this week'),
        ask('Read access to the prod database for 2 hours to debug INC-4821'),
        ask('What access do I have?'))));
  }

  function addMessage(m, save = true) {
    const list = $('#messages');
    const empty = list.querySelector('.empty-chat');
    if (empty) empty.remove();
    if (save) { shown.push(m); saveChat(); }
    const isUser = m.from === 'user';
    const kind = isUser ? '' : enumWord(m.kind, 'REPLY_KIND_');
    const label = { submitted: 'Submitted', notice: 'Update', error: 'Problem', proposal: 'Please confirm' }[kind];
    const bubble = el('div', { class: 'bubble' },
      label ? el('span', { class: 'msg-kind' }, label, m.request_id ? el('span', { class: 'msg-ref', text: ` · ${m.request_id}` }) : null) : null,
      m.text);
    if (m.options && m.options.length) {
      const group = el('div', { class: 'options', role: 'group', 'aria-label': 'Choose an answer' });
      for (const o of m.options) {
        const b = el('button', {
          type: 'button', class: 'option' + (m.chosen === o.value ? ' chosen' : ''),
          dataset: { value: o.value }, disabled: m.answered || undefined,
          onclick: () => {
            m.answered = true; m.chosen = o.value; saveChat();
            for (const x of group.querySelectorAll('button')) x.disabled = true;
            b.classList.add('chosen');
            send(o.label, o.value);
          },
        }, o.label);
        group.append(b);
      }
      bubble.append(group);
    }
    const item = el('li', { class: `msg ${isUser ? 'msg-user' : 'msg-agent'}${kind ? ' kind-' + kind : ''}` },
      el('span', { class: 'avatar', 'aria-hidden': 'true', text: isUser ? initials(state.person && state.person.name, state.as) : 'iga' }),
      el('div', {},
        el('span', { class: 'sr-only', text: isUser ? 'You said: ' : 'iga said: ' }),
        bubble,
        el('div', { class: 'msg-time', text: clock(m.at) })));
    list.append(item);
    scrollChat();
    return item;
  }

  function scrollChat() { const l = $('#messages'); l.scrollTop = l.scrollHeight; }

  async function send(text, optionValue) {
    text = String(text || '').trim();
    if (state.busy || (!text && !optionValue)) return;
    state.busy = true;
    $('#chat-send').disabled = true;
    addMessage({ from: 'user', text, at: new Date().toISOString() });
    const typing = el('li', { class: 'msg msg-agent typing' },
      el('span', { class: 'avatar', 'aria-hidden': 'true', text: 'iga' }),
      el('div', { class: 'bubble', text: 'iga is thinking…' }));
    $('#messages').append(typing);
    scrollChat();
    try {
      const resp = await api('POST', '/api/chat', {
        as: state.as, text, option_value: optionValue || '', conversation_id: state.conversation,
      });
      hideBanner();
      if (resp.conversation_id && resp.conversation_id !== state.conversation) {
        state.conversation = resp.conversation_id;
        store.set(`iga.conversation.${state.as}`, state.conversation);
        connectNotices();
      }
      typing.remove();
      const replies = resp.replies || [];
      if (!replies.length) {
        addMessage({ from: 'agent', kind: 'REPLY_KIND_ERROR', text: 'iga did not answer in time. Your message was received; try again in a moment.', at: new Date().toISOString() });
      }
      let submitted = false;
      for (const r of replies) {
        addMessage({ from: 'agent', kind: r.kind, text: r.text, options: r.options || [], request_id: r.request_id, at: r.sent_at || new Date().toISOString() });
        if (r.request_id) submitted = true;
      }
      if (submitted) refreshAll();
    } catch (e) {
      typing.remove();
      addMessage({ from: 'agent', kind: 'REPLY_KIND_ERROR', text: e.message, at: new Date().toISOString() }, false);
      if (unreachable(e)) showBanner(e.message);
    } finally {
      state.busy = false;
      $('#chat-send').disabled = false;
    }
  }

  function newConversation() {
    state.conversation = '';
    store.set(`iga.conversation.${state.as}`, '');
    store.set(chatKey(), '');
    shown.length = 0;
    emptyChat();
    $('#chat-input').focus();
  }

  // ---------- requests ----------

  const requestPill = {
    submitted: 'pill-info', 'pending approval': 'pill-warn', approved: 'pill-info', active: 'pill-ok',
    denied: 'pill-bad', revoked: '', failed: 'pill-bad', withdrawn: '',
  };

  async function loadRequests() {
    const list = $('#requests-list');
    loading(list);
    try {
      const resp = await api('GET', `/api/requests?user=${encodeURIComponent(state.as)}`);
      const items = (resp.requests || []).slice().sort((a, b) =>
        String(b.request && b.request.created_at).localeCompare(String(a.request && a.request.created_at)));
      if (!items.length) {
        list.replaceChildren(el('p', { class: 'empty', text: 'No requests yet. Ask for access in the chat.' }));
        return;
      }
      list.replaceChildren(...items.map(renderRequest));
    } catch (e) { failed(list, e); }
  }

  function renderRequest(v) {
    const r = v.request || {};
    const status = enumWord(v.status, 'REQUEST_STATUS_') || 'submitted';
    const d = v.decision || {};
    const a = v.approval || {};
    const g = v.grant || {};
    const forWhom = r.beneficiary_email && r.beneficiary_email !== r.requester_email
      ? (r.requester_email === state.as ? ` · for ${r.beneficiary_email}` : ` · asked by ${r.requester_email}`) : '';
    const dur = humanDuration(seconds((d.granted_duration) || r.duration));
    const lines = [];
    if (status === 'pending approval' && a.approvers && a.approvers.length) {
      lines.push(`Waiting for ${a.approvers.join(', ')}.`);
    }
    if (d.reason) lines.push(d.reason);
    if (status === 'active' && g.expires_at) {
      lines.push(el('span', {}, 'Expires in ', el('span', { class: 'countdown', dataset: { expires: g.expires_at } }, countdown(new Date(g.expires_at) - Date.now())), '.'));
    }
    if (status === 'denied' && a.reason) lines.push(`Denied: ${a.reason}`);
    if (status === 'withdrawn') lines.push('You withdrew it; nothing was granted.');
    const actions = [];
    if (status === 'pending approval' && r.requester_email === state.as) {
      // The requester may take back what still waits for approval.
      const err = el('p', { class: 'decide-error', role: 'alert' });
      const btn = el('button', { type: 'button', class: 'btn btn-deny btn-small', dataset: { action: 'withdraw', id: r.id } }, 'Withdraw');
      btn.addEventListener('click', async () => {
        btn.disabled = true;
        err.textContent = '';
        try {
          await api('POST', `/api/requests/${encodeURIComponent(r.id)}/withdraw`, { as: state.as, reason: 'withdrawn in the console' });
          toast(`Withdrew ${r.id}.`);
          refreshAll();
        } catch (e) {
          err.textContent = e.message;
          btn.disabled = false;
          if (unreachable(e)) showBanner(e.message);
        }
      });
      actions.push(el('div', { class: 'decide' }, btn, err));
    }
    return el('article', { class: 'item', dataset: { requestId: r.id } },
      el('div', { class: 'item-top' },
        el('div', {},
          entitlement(r.entitlement_id),
          el('div', { class: 'meta' },
            el('span', { class: 'mono', text: r.id }),
            dur ? ` · for ${dur}` : '', forWhom, r.created_at ? ` · ${ago(r.created_at)}` : '')),
        el('span', { class: `pill ${requestPill[status] || ''}`, text: status })),
      ...lines.map((l) => el('p', { class: 'detail' }, l)),
      ...actions);
  }

  // ---------- approvals ----------

  async function loadApprovals() {
    const list = $('#approvals-list');
    loading(list);
    try {
      const resp = await api('GET', `/api/approvals?as=${encodeURIComponent(state.as)}`);
      const items = resp.approvals || [];
      const count = $('#approvals-count');
      count.textContent = String(items.length);
      count.hidden = items.length === 0;
      if (!items.length) {
        list.replaceChildren(el('p', { class: 'empty', text: 'Nothing is waiting for you.' }));
        return;
      }
      // Keep a half-typed reason when the list refreshes under the approver's hands.
      const typed = {};
      for (const i of list.querySelectorAll('input[data-reason-for]')) typed[i.dataset.reasonFor] = i.value;
      list.replaceChildren(...items.map((a) => renderApproval(a, typed[a.id] || '')));
    } catch (e) { failed(list, e); }
  }

  function renderApproval(a, typed) {
    const stages = new Set((a.steps || []).map((s) => s.stage || 1)).size || 1;
    const dur = humanDuration(seconds(a.duration));
    // A break-glass review comes after the grant: confirming keeps the access, rejecting
    // revokes it at once.
    const review = a.kind === 'APPROVAL_KIND_BREAK_GLASS_REVIEW';
    const words = review
      ? { approve: 'Confirm', deny: 'Reject', approved: 'Confirmed', denied: 'Rejected', placeholder: 'Reason (required to reject; rejecting revokes the access)', why: 'Say why you reject it: the access is revoked and the requester is told.' }
      : { approve: 'Approve', deny: 'Deny', approved: 'Approved', denied: 'Denied', placeholder: 'Reason (required to deny)', why: 'Say why you deny, so the requester knows what to change.' };
    let who = a.beneficiary_email && a.beneficiary_email !== a.requester_email
      ? `${a.requester_email} asks for ${a.beneficiary_email}` : `${a.requester_email} asks`;
    if (review) {
      who = a.beneficiary_email && a.beneficiary_email !== a.requester_email
        ? `${a.requester_email} took it for ${a.beneficiary_email} as an emergency; already granted` : `${a.requester_email} took it as an emergency; already granted`;
    }
    const reasonId = `reason-${a.id}`;
    const input = el('input', { type: 'text', id: reasonId, maxlength: '2000', placeholder: words.placeholder, dataset: { reasonFor: a.id } });
    input.value = typed;
    const err = el('p', { class: 'decide-error', role: 'alert' });
    const decide = async (approve, btns) => {
      const reason = input.value.trim();
      err.textContent = '';
      if (!approve && !reason) { err.textContent = words.why; input.focus(); return; }
      btns.forEach((b) => { b.disabled = true; });
      try {
        await api('POST', `/api/approvals/${encodeURIComponent(a.id)}/${approve ? 'approve' : 'deny'}`, { as: state.as, reason });
        toast(`${approve ? words.approved : words.denied} ${a.request_id || a.id}.`);
        refreshAll();
      } catch (e) {
        err.textContent = e.message;
        btns.forEach((b) => { b.disabled = false; });
        if (unreachable(e)) showBanner(e.message);
      }
    };
    const approveBtn = el('button', { type: 'button', class: 'btn btn-approve btn-small', dataset: { action: 'approve', id: a.id } }, words.approve);
    const denyBtn = el('button', { type: 'button', class: 'btn btn-deny btn-small', dataset: { action: 'deny', id: a.id } }, words.deny);
    approveBtn.addEventListener('click', () => decide(true, [approveBtn, denyBtn]));
    denyBtn.addEventListener('click', () => decide(false, [approveBtn, denyBtn]));
    return el('article', { class: 'item', dataset: { approvalId: a.id } },
      el('div', { class: 'item-top' },
        el('div', {},
          entitlement(a.entitlement_id),
          el('div', { class: 'meta' }, el('span', { class: 'mono', text: a.request_id || a.id }), ` · ${who}`, dur ? ` · for ${dur}` : '', a.created_at ? ` · ${ago(a.created_at)}` : '')),
        el('span', { class: review ? 'pill pill-bad' : 'pill pill-warn', text: review ? `break-glass review · stage ${a.current_stage || 1} of ${stages}` : `stage ${a.current_stage || 1} of ${stages}` })),
      el('div', { class: 'decide' },
        el('label', { for: reasonId, class: 'sr-only', text: `Reason for ${a.entitlement_id}` }),
        input, approveBtn, denyBtn, err));
  }

  // ---------- grants ----------

  async function loadGrants() {
    const list = $('#grants-list');
    loading(list);
    try {
      const resp = await api('GET', `/api/grants?user=${encodeURIComponent(state.as)}&all=${state.showPast}`);
      const items = (resp.grants || []).slice().sort((a, b) => {
        const act = (g) => (g.status === 'GRANT_STATUS_ACTIVE' ? 0 : 1);
        return act(a) - act(b) || String(a.expires_at).localeCompare(String(b.expires_at));
      });
      if (!items.length) {
        list.replaceChildren(el('p', { class: 'empty', text: state.showPast ? 'You have held no access through iga yet.' : 'You hold no access through iga right now.' }));
        return;
      }
      list.replaceChildren(...items.map(renderGrant));
      tick();
    } catch (e) { failed(list, e); }
  }

  function renderGrant(g) {
    const status = enumWord(g.status, 'GRANT_STATUS_');
    const active = status === 'active';
    const right = active && g.expires_at
      ? el('div', { class: 'grant-expiry' },
        el('div', { class: 'countdown', dataset: { expires: g.expires_at, since: g.granted_at || '' }, 'aria-label': 'Time left' }, countdown(new Date(g.expires_at) - Date.now())),
        el('div', { class: 'until', text: `until ${when(g.expires_at)}` }))
      : el('span', { class: `pill ${status === 'failed' ? 'pill-bad' : ''}`, text: status });
    const meta = [el('span', { class: 'mono', text: g.id })];
    if (g.granted_at) meta.push(` · granted ${ago(g.granted_at)}`);
    if (!active && g.revoked_at) meta.push(` · revoked ${ago(g.revoked_at)}${g.revoke_reason ? ` (${g.revoke_reason})` : ''}`);
    const item = el('article', { class: `item grant${active ? '' : ' inactive'}`, dataset: { grantId: g.id } },
      el('div', { class: 'item-top' },
        el('div', {}, entitlement(g.entitlement_id), el('div', { class: 'meta' }, ...meta)),
        right));
    if (active && g.expires_at && g.granted_at) {
      item.append(el('div', { class: 'progress', role: 'presentation' }, el('span', { dataset: { bar: '1' } })));
    }
    if (g.failure) item.append(el('p', { class: 'detail', text: g.failure }));
    return item;
  }

  // tick moves every countdown on the page; expiry itself happens server-side.
  function tick() {
    const now = Date.now();
    for (const c of document.querySelectorAll('.countdown[data-expires]')) {
      const end = new Date(c.dataset.expires).getTime();
      const left = end - now;
      c.textContent = left > 0 ? countdown(left) : 'expired, revoking…';
      c.classList.toggle('soon', left > 0 && left < 3600 * 1000);
      c.classList.toggle('done', left <= 0);
      const item = c.closest('.grant');
      const bar = item && item.querySelector('[data-bar]');
      if (bar && c.dataset.since) {
        const start = new Date(c.dataset.since).getTime();
        const used = Math.min(1, Math.max(0, (now - start) / Math.max(1, end - start)));
        bar.style.width = `${(100 * (1 - used)).toFixed(2)}%`;
      }
    }
  }

  // ---------- events ----------

  function summarize(ev) {
    const d = ev.data || {};
    const ent = (x) => (x && x.entitlement_id) || '';
    if (d.grant) {
      const g = d.grant;
      if (g.status === 'GRANT_STATUS_ACTIVE') return `${g.person_email} now holds ${ent(g)} until ${when(g.expires_at)}.`;
      if (g.status === 'GRANT_STATUS_REVOKED') return `${g.person_email} no longer holds ${ent(g)}${g.revoke_reason ? ` (${g.revoke_reason})` : ''}.`;
      return `${g.person_email}: ${ent(g)} is ${enumWord(g.status, 'GRANT_STATUS_')}.`;
    }
    if (d.review) {
      const r = d.review;
      if (r.status === 'APPROVAL_STATUS_PENDING') return `Emergency access to ${ent(r)} for ${r.beneficiary_email} to be reviewed by ${(r.approvers || []).join(', ')}.`;
      return `Review of the emergency access to ${ent(r)} for ${r.beneficiary_email}: ${enumWord(r.status, 'APPROVAL_STATUS_')}${r.reason ? ` (${r.reason})` : ''}${d.revoke_commanded ? '; revoking it' : ''}.`;
    }
    if (d.request) return `${d.request.requester_email} asked for ${ent(d.request)}${d.request.beneficiary_email && d.request.beneficiary_email !== d.request.requester_email ? ` for ${d.request.beneficiary_email}` : ''}.`;
    if (d.decision) return `Policy: ${enumWord(d.decision.effect, 'EFFECT_')}. ${d.decision.reason || ''}`;
    if (d.approval) {
      const a = d.approval;
      if (a.status === 'APPROVAL_STATUS_PENDING') return `Waiting for ${(a.approvers || []).join(', ')} to approve ${ent(a)}.`;
      return `Approval ${enumWord(a.status, 'APPROVAL_STATUS_')} for ${ent(a)}${a.reason ? `: ${a.reason}` : ''}.`;
    }
    if (d.request_id && d.by) return `Denied by ${d.by}${d.reason ? `: ${d.reason}` : ''}.`;
    if (d.task_id) return `Manual task for ${d.assignee_email || 'IT'}: ${d.action} ${d.entitlement_id} for ${d.person_email}.`;
    if (d.consumer) return `A message could not be handled by ${d.consumer}: ${d.reason || ''}`;
    return '';
  }

  function setEventsStatus(text, live) {
    const s = $('#events-status');
    s.replaceChildren(el('span', { class: `live-dot ${live === true ? 'on' : live === false ? 'off' : ''}`, 'aria-hidden': 'true' }), text);
    const dot = $('#events-dot');
    dot.className = `live-dot ${live === true ? 'on' : live === false ? 'off' : ''}`;
  }

  function connectEvents() {
    if (state.events) state.events.close();
    setEventsStatus('Connecting…', null);
    const es = new EventSource('/api/events?last=100');
    state.events = es;
    es.onopen = () => {
      state.eventsOpenedAt = Date.now();
      setEventsStatus('Live: new events appear as they happen.', true);
    };
    es.onmessage = (m) => {
      let ev;
      try { ev = JSON.parse(m.data); } catch { return; }
      if (!ev || !ev.id || state.eventIds.has(ev.id)) return;
      state.eventIds.add(ev.id);
      addEvent(ev);
      scheduleRefresh();
    };
    es.addEventListener('failure', (m) => {
      let msg = 'The event stream ended.';
      try { msg = JSON.parse(m.data).error || msg; } catch { /* keep default */ }
      setEventsStatus(`${msg} Reconnecting…`, false);
    });
    es.onerror = () => {
      if (state.events !== es) return;
      if (es.readyState === EventSource.CLOSED) {
        // The server refused the stream (iga unreachable): EventSource gives up; we don't.
        setEventsStatus('iga is not reachable: is `iga dev` running? Retrying…', false);
        setTimeout(() => { if (state.events === es && state.as) connectEvents(); }, 5000);
      } else {
        setEventsStatus('Connection lost. Reconnecting…', false);
      }
    };
  }

  // Notices: what happens to the person's requests after the chat answered (approved,
  // denied, granted, revoked, reminders) appears in the conversation as it happens.
  function connectNotices() {
    if (state.notices) state.notices.close();
    const q = new URLSearchParams({ as: state.as, conversation_id: state.conversation || '' });
    const es = new EventSource(`/api/notices?${q}`);
    state.notices = es;
    es.onmessage = (m) => {
      let r;
      try { r = JSON.parse(m.data); } catch { return; }
      if (!r || !r.text) return;
      addMessage({ from: 'agent', kind: r.kind || 'REPLY_KIND_NOTICE', text: r.text, options: r.options || [], request_id: r.request_id, at: r.sent_at || new Date().toISOString() });
      scheduleRefresh();
    };
    es.onerror = () => {
      if (state.notices !== es || es.readyState !== EventSource.CLOSED) return; // the browser retries on its own
      setTimeout(() => { if (state.notices === es && state.as) connectNotices(); }, 5000);
    };
  }

  function addEvent(ev) {
    const list = $('#events-list');
    const type = String(ev.type || ev.subject || '').replace(/^iga\./, '').replace(/\.v\d+$/, '');
    // The history arrives in one burst on connect; only what happens afterwards is highlighted.
    const fresh = state.eventsOpenedAt && Date.now() - state.eventsOpenedAt > 1500;
    const item = el('li', { class: `event${fresh ? ' fresh' : ''}`, dataset: { eventId: ev.id } },
      el('span', { class: 'event-time', text: clock(ev.time) }),
      el('div', {},
        el('span', { class: 'event-type', text: type }),
        el('p', { class: 'event-summary', text: summarize(ev) }),
        el('span', { class: 'event-meta' },
          [ev.request_id ? `request ${ev.request_id}` : '', ev.source || '', ev.subject || ''].filter(Boolean).join(' · '))));
    list.prepend(item);
    while (list.children.length > 300) list.lastElementChild.remove();
  }

  // ---------- tabs & refresh ----------

  const loaders = { requests: loadRequests, approvals: loadApprovals, grants: loadGrants };

  function refreshAll() {
    if (!state.as) return;
    loadRequests();
    loadApprovals();
    loadGrants();
  }

  // Events arrive in bursts (submitted, decided, requested): refresh once per burst.
  function scheduleRefresh() {
    clearTimeout(state.refreshTimer);
    state.refreshTimer = setTimeout(refreshAll, 400);
  }

  function selectTab(name, focus) {
    state.tab = name;
    for (const t of document.querySelectorAll('[role=tab]')) {
      const on = t.dataset.tab === name;
      t.setAttribute('aria-selected', String(on));
      t.tabIndex = on ? 0 : -1;
      document.getElementById(t.getAttribute('aria-controls')).hidden = !on;
      if (on && focus) t.focus();
    }
  }

  function wire() {
    $('#signin-form').addEventListener('submit', (e) => { e.preventDefault(); signIn($('#signin-email').value); });
    for (const b of document.querySelectorAll('[data-persona]')) {
      b.addEventListener('click', () => { $('#signin-email').value = b.dataset.persona; signIn(b.dataset.persona); });
    }
    $('#switch-user').addEventListener('click', signOut);
    $('#new-conversation').addEventListener('click', newConversation);
    $('#banner-retry').addEventListener('click', () => {
      hideBanner();
      if (state.as) { refreshAll(); connectEvents(); } else signIn($('#signin-email').value);
    });
    $('#chat-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const input = $('#chat-input');
      const text = input.value;
      if (!text.trim() || state.busy) return;
      input.value = '';
      send(text, '');
    });
    $('#chat-input').addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        $('#chat-form').requestSubmit();
      }
    });
    const tabs = [...document.querySelectorAll('[role=tab]')];
    tabs.forEach((t, i) => {
      t.addEventListener('click', () => selectTab(t.dataset.tab));
      t.addEventListener('keydown', (e) => {
        let j = -1;
        if (e.key === 'ArrowRight') j = (i + 1) % tabs.length;
        if (e.key === 'ArrowLeft') j = (i - 1 + tabs.length) % tabs.length;
        if (e.key === 'Home') j = 0;
        if (e.key === 'End') j = tabs.length - 1;
        if (j >= 0) { e.preventDefault(); selectTab(tabs[j].dataset.tab, true); }
      });
    });
    for (const b of document.querySelectorAll('[data-refresh]')) {
      b.addEventListener('click', () => loaders[b.dataset.refresh]());
    }
    $('#show-past').addEventListener('change', (e) => { state.showPast = e.target.checked; loadGrants(); });
    $('#events-clear').addEventListener('click', () => $('#events-list').replaceChildren());
    setInterval(tick, 1000);
  }

  async function start() {
    wire();
    if (!state.as) { $('#signin').hidden = false; $('#signin-email').focus(); return; }
    try {
      const resp = await api('GET', `/api/person?email=${encodeURIComponent(state.as)}`);
      enter(state.as, resp.person || { email: state.as });
    } catch (e) {
      if (unreachable(e)) {
        // Keep the user signed in; the banner says what is wrong and Retry tries again.
        showBanner(e.message);
        enter(state.as, { email: state.as });
      } else {
        signOut();
        $('#signin-error').textContent = e.message;
      }
    }
  }

  start();
})();
