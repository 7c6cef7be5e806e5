/* Atlas Settlement dashboard (vanilla JS, no library, no network).
 * Every text from the data is put in the page with textContent or as an attribute value, never parsed as
 * markup. Amounts arrive as integer cents and are formatted with integer arithmetic.
 */
'use strict';
(function () {
  const DATA = JSON.parse(document.getElementById('data').textContent);
  const PAGE_SIZE = 200;
  const POSTINGS_SHOWN = 500;
  const STATUS_CLASS = { OK: 'st-OK', WARNING: 'st-WARNING', BREACH: 'st-BREACH', READY: 'st-READY',
    BLOCKED: 'st-BLOCKED', 'NOT DUE': 'st-NOTDUE' };
  const WRAPPED = { reasons: 1, reason_text: 1, iban_problem: 1, reason: 1 };
  const ROW_CLASS = { WARNING: 'row-WARNING', BREACH: 'row-BREACH' };
  const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

  // ---- formatting (integer arithmetic only: cents stay exact) ----
  function thousands(digits) { return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ','); }
  function money(cents) {
    if (cents === null || cents === undefined) return '';
    const abs = Math.abs(cents);
    const rest = abs % 100;
    const euros = (abs - rest) / 100; // exact: abs - rest is a multiple of 100
    // Same form as the CLI and report (atlas_xl.money.format_eur): EUR 1,234.56 / EUR -1,234.56
    return 'EUR ' + (cents < 0 ? '-' : '') + thousands(String(euros)) + '.' + String(rest).padStart(2, '0');
  }
  function percent(ppm) {
    if (ppm === null || ppm === undefined) return '';
    // ppm -> tenths of a percent, ROUND_HALF_UP (ppm / 1000, half away from zero)
    const abs = Math.abs(ppm);
    const tenths = (abs + 500 - ((abs + 500) % 1000)) / 1000;
    return (ppm < 0 ? '-' : '') + thousands(String(Math.floor(tenths / 10))) + '.' + (tenths % 10) + '%';
  }
  function integer(n) { return (n === null || n === undefined) ? '' : (n < 0 ? '-' : '') + thousands(String(Math.abs(n))); }
  const day0 = Date.UTC(+DATA.meta.day0.slice(0, 4), +DATA.meta.day0.slice(5, 7) - 1, +DATA.meta.day0.slice(8, 10));
  function isoDay(offset) { return new Date(day0 + offset * 86400000).toISOString().slice(0, 10); }

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function statusBadge(value) { return el('span', 'st ' + (STATUS_CLASS[value] || 'st-other'), value); }
  function fill(cell, type, value) {
    if (type === 'money') {
      cell.className = value < 0 ? 'num neg' : 'num';
      cell.textContent = money(value);
    } else if (type === 'int') {
      cell.className = 'num'; cell.textContent = integer(value);
    } else if (type === 'ppm') {
      cell.className = 'num'; cell.textContent = percent(value);
    } else if (type === 'status') {
      cell.appendChild(statusBadge(value));
    } else {
      cell.textContent = value === null || value === undefined ? '' : String(value);
    }
  }

  // ---- header and KPI tiles ----
  const meta = DATA.meta;
  document.getElementById('meta').textContent = 'As of ' + meta.as_of + ' \u00b7 data: ' + meta.source +
    ' \u00b7 atlas-xl ' + meta.version + ' \u00b7 generated ' + meta.generated;
  const ALERT_KEYS = { payouts_blocked: 1, limit_breaches: 1, alerts: 1, refused_rows: 1 };
  const tiles = document.getElementById('kpis');
  for (const kpi of DATA.kpis) {
    const tile = el('div', 'tile');
    tile.dataset.key = kpi.key;
    if (ALERT_KEYS[kpi.key] && kpi.value > 0) tile.classList.add('alert');
    tile.appendChild(el('div', 'label', kpi.label));
    const shown = kpi.kind === 'money' ? money(kpi.value) : kpi.kind === 'percent' ? percent(kpi.value)
      : kpi.kind === 'int' ? integer(kpi.value) : String(kpi.value);
    tile.appendChild(el('div', 'value', shown));
    tiles.appendChild(tile);
  }

  // ---- clients and drill-down ----
  const clientIds = DATA.clients.ids;
  const clientIndex = new Map(clientIds.map((id, i) => [id, i]));
  function rowOf(tableName) {
    const ids = DATA.tables[tableName].data.client_id;
    return new Map(ids.map((id, i) => [id, i]));
  }
  const payoutRow = rowOf('payouts');
  const exposureRow = rowOf('exposure');
  const drill = document.getElementById('drill');

  function tbodyOf(id) {
    const body = document.querySelector('#' + id + ' tbody');
    body.replaceChildren();
    return body;
  }
  function addRow(body, cells) {
    const tr = document.createElement('tr');
    for (const [type, value] of cells) {
      const td = document.createElement('td');
      fill(td, type, value);
      tr.appendChild(td);
    }
    body.appendChild(tr);
    return tr;
  }

  function openDrill(ci) {
    const id = clientIds[ci];
    document.getElementById('drill-title').textContent = id + ' \u2014 ' + DATA.clients.names[ci];
    const status = document.getElementById('drill-status');
    status.replaceChildren();
    const pr = payoutRow.get(id);
    if (pr !== undefined) {
      const p = DATA.tables.payouts.data;
      status.appendChild(statusBadge(p.readiness[pr]));
      status.appendChild(document.createTextNode(' payable ' + money(p.amount_cents[pr]) +
        (p.reason_text[pr] ? ' \u00b7 ' + p.reason_text[pr] : '')));
    }
    const er = exposureRow.get(id);
    if (er !== undefined) {
      const e = DATA.tables.exposure.data;
      status.appendChild(document.createTextNode(' \u00b7 exposure ' + money(e.exposure_cents[er]) + ' '));
      status.appendChild(statusBadge(e.status[er]));
    }
    const d = DATA.drill;
    let body = tbodyOf('drill-balances');
    for (const sub of DATA.subaccounts) addRow(body, [['text', sub], ['money', d.balances[sub][ci]]]);
    body = tbodyOf('drill-totals');
    for (let i = d.start[ci]; i < d.start[ci + 1]; i++) {
      addRow(body, [['text', DATA.subaccounts[d.sub[i]]], ['text', DATA.movements[d.mov[i]]],
        ['int', d.postings[i]], ['money', d.amount[i]]]);
    }
    const p = DATA.postings;
    const first = p.start[ci];
    const last = p.start[ci + 1];
    const total = last - first;
    const shownFrom = Math.max(first, last - POSTINGS_SHOWN);
    let note = meta.postings_note + ' ' + integer(total) + ' posting legs for this client';
    if (shownFrom > first) note += '; the latest ' + integer(last - shownFrom) + ' are shown, newest first.';
    else note += ', newest first.';
    document.getElementById('drill-postings-note').textContent = note;
    body = tbodyOf('drill-postings');
    for (let i = last - 1; i >= shownFrom; i--) {
      addRow(body, [['text', isoDay(p.day[i])], ['text', DATA.movements[p.mov[i]]],
        ['text', DATA.subaccounts[p.sub[i]]], ['money', p.amount[i]]]);
    }
    drill.hidden = false;
    drill.scrollTop = 0;
    document.getElementById('drill-close').focus();
  }
  function closeDrill() { drill.hidden = true; }
  document.getElementById('drill-close').addEventListener('click', closeDrill);
  document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') closeDrill(); });

  // ---- sortable, filterable, searchable, paged tables over column arrays ----
  function Table(host, spec) {
    this.spec = spec;
    this.cols = spec.columns;
    this.data = spec.data;
    this.n = spec.rows;
    this.sorted = Array.from({ length: this.n }, (_, i) => i);
    this.view = this.sorted;
    this.page = 0;
    this.sortKey = null;
    this.sortDir = 1;
    const ids = this.data.client_id || new Array(this.n).fill(''); // a table without clients: by day
    const names = this.data.name || [];
    // Search matches the client id or name, case-insensitively; the keys are built once.
    this.searchKey = ids.map((id, i) => (id + '\u0000' + (names[i] || '')).toLowerCase());
    this.build(host);
    this.apply();
  }
  Table.prototype.build = function (host) {
    const controls = el('div', 'controls');
    this.search = el('input', 'search');
    this.search.type = 'search';
    this.search.placeholder = 'Search client id or name';
    this.search.setAttribute('aria-label', 'Search client');
    this.filter = el('select', 'filter');
    this.filter.setAttribute('aria-label', 'Filter by status');
    this.filter.appendChild(new Option('All statuses', ''));
    (this.spec.filters || []).forEach((f, i) => this.filter.appendChild(new Option(f.label, String(i))));
    this.count = el('span', 'count');
    controls.append(this.search, this.filter, this.count);
    const scroll = el('div', 'scroll');
    const table = el('table', 'grid');
    const head = document.createElement('thead');
    const tr = document.createElement('tr');
    this.headers = this.cols.map((col) => {
      const th = el('th', 'sortable', col.label);
      th.dataset.key = col.key;
      if (col.type === 'money' || col.type === 'int' || col.type === 'ppm') th.classList.add('num');
      th.tabIndex = 0;
      th.addEventListener('click', () => this.sortBy(col.key));
      th.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') this.sortBy(col.key); });
      tr.appendChild(th);
      return th;
    });
    head.appendChild(tr);
    this.body = document.createElement('tbody');
    table.append(head, this.body);
    scroll.appendChild(table);
    const pager = el('div', 'pager');
    this.prev = el('button', 'prev', '\u2039 Previous');
    this.next = el('button', 'next', 'Next \u203a');
    this.prev.type = this.next.type = 'button';
    this.pageInfo = el('span', 'page-info');
    pager.append(this.prev, this.pageInfo, this.next);
    host.append(controls, scroll, pager);
    this.search.addEventListener('input', () => { this.page = 0; this.apply(); });
    this.filter.addEventListener('change', () => { this.page = 0; this.apply(); });
    this.prev.addEventListener('click', () => { this.page -= 1; this.render(); });
    this.next.addEventListener('click', () => { this.page += 1; this.render(); });
    this.body.addEventListener('click', (ev) => {
      const button = ev.target.closest('button.client');
      if (!button) return;
      const ci = clientIndex.get(this.data.client_id[+button.dataset.row]);
      if (ci !== undefined) openDrill(ci);
    });
  };
  Table.prototype.sortBy = function (key) {
    this.sortDir = this.sortKey === key ? -this.sortDir : 1;
    this.sortKey = key;
    const col = this.cols.find((c) => c.key === key);
    const values = this.data[key];
    const dir = this.sortDir;
    const numeric = col.type === 'money' || col.type === 'int' || col.type === 'ppm';
    // Blanks sort last in both directions; ties keep the previous order (Array sort is stable).
    this.sorted = Array.from({ length: this.n }, (_, i) => i).sort((a, b) => {
      const x = values[a];
      const y = values[b];
      const xBlank = x === null || x === '';
      const yBlank = y === null || y === '';
      if (xBlank || yBlank) return xBlank === yBlank ? 0 : (xBlank ? 1 : -1);
      return dir * (numeric ? x - y : collator.compare(x, y));
    });
    for (const th of this.headers) {
      if (th.dataset.key === key) th.setAttribute('aria-sort', dir > 0 ? 'ascending' : 'descending');
      else th.removeAttribute('aria-sort');
    }
    this.page = 0;
    this.apply();
  };
  Table.prototype.apply = function () {
    const query = this.search.value.trim().toLowerCase();
    const f = this.filter.value === '' ? null : this.spec.filters[+this.filter.value];
    const values = f ? this.data[f.key] : null;
    const keys = this.searchKey;
    const matches = (i) => {
      if (f) {
        const v = values[i];
        if (f.mode === 'equals' && v !== f.value) return false;
        if (f.mode === 'reason' && !v.split('; ').includes(f.value)) return false;
      }
      return !query || keys[i].includes(query);
    };
    this.view = (!f && !query) ? this.sorted : this.sorted.filter(matches);
    this.render();
  };
  Table.prototype.render = function () {
    const pages = Math.max(1, Math.ceil(this.view.length / PAGE_SIZE));
    this.page = Math.min(Math.max(this.page, 0), pages - 1);
    const start = this.page * PAGE_SIZE;
    const stop = Math.min(start + PAGE_SIZE, this.view.length);
    const frag = document.createDocumentFragment();
    const status = this.data.status;
    for (let r = start; r < stop; r++) {
      const i = this.view[r];
      const tr = document.createElement('tr');
      if (status && ROW_CLASS[status[i]]) tr.className = ROW_CLASS[status[i]];
      for (const col of this.cols) {
        const td = document.createElement('td');
        const value = this.data[col.key][i];
        if (col.type === 'client') {
          const button = el('button', 'client', value);
          button.type = 'button';
          button.dataset.row = String(i);
          td.appendChild(button);
        } else {
          fill(td, col.type, value);
          if (WRAPPED[col.key]) td.classList.add('wrap');
        }
        tr.appendChild(td);
      }
      frag.appendChild(tr);
    }
    this.body.replaceChildren(frag);
    this.count.textContent = integer(this.view.length) + ' of ' + integer(this.n) + ' rows';
    this.pageInfo.textContent = 'Page ' + (this.page + 1) + ' of ' + pages + ' (' + PAGE_SIZE + ' rows per page)';
    this.prev.disabled = this.page === 0;
    this.next.disabled = this.page >= pages - 1;
  };

  const tables = {};
  for (const host of document.querySelectorAll('.table-host')) {
    const name = host.dataset.table;
    tables[name] = new Table(host, DATA.tables[name]);
  }

  // ---- projection chart: stacked columns (principal, interest) and the outstanding balance as a line ----
  function drawProjection() {
    const svg = document.getElementById('projection-chart');
    const NS = svg.namespaceURI; // the SVG namespace, taken from the element the HTML parser made
    const p = DATA.projection;
    const n = p.month.length;
    function node(tag, attrs, text, parent) {
      const e = document.createElementNS(NS, tag);
      for (const k in attrs) e.setAttribute(k, String(attrs[k]));
      if (text !== undefined) e.textContent = text;
      (parent || svg).appendChild(e);
      return e;
    }
    const W = 960; const H = 320; const L = 90; const R = 90; const T = 16; const B = 44;
    if (n === 0) {
      node('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle' }, 'No loans: nothing to project.');
      return;
    }
    const flow = p.principal.map((v, i) => v + p.interest[i]);
    const maxFlow = Math.max(1, ...flow);
    const maxOut = Math.max(1, ...p.outstanding);
    const plotW = W - L - R; const plotH = H - T - B;
    const step = plotW / n;
    const barW = Math.max(1, step * 0.7);
    const yFlow = (v) => T + plotH - (v / maxFlow) * plotH;
    const yOut = (v) => T + plotH - (v / maxOut) * plotH;
    const euros = (cents) => thousands(String(Math.round(cents / 100))); // axis labels only
    for (let k = 0; k <= 4; k++) {
      const y = T + plotH - (k / 4) * plotH;
      node('line', { class: 'gridline', x1: L, x2: W - R, y1: y, y2: y });
      node('text', { x: L - 6, y: y + 4, 'text-anchor': 'end' }, euros((maxFlow * k) / 4));
      node('text', { x: W - R + 6, y: y + 4 }, euros((maxOut * k) / 4));
    }
    node('line', { class: 'axis', x1: L, x2: L, y1: T, y2: T + plotH });
    node('line', { class: 'axis', x1: W - R, x2: W - R, y1: T, y2: T + plotH });
    node('line', { class: 'axis', x1: L, x2: W - R, y1: T + plotH, y2: T + plotH });
    node('text', { x: 12, y: T + 10 }, 'EUR / month');
    node('text', { x: W - 12, y: T + 10, 'text-anchor': 'end' }, 'EUR outstanding');
    const every = Math.ceil(n / 12);
    let path = '';
    for (let i = 0; i < n; i++) {
      const x = L + i * step + (step - barW) / 2;
      const yP = yFlow(p.principal[i]);
      const yI = yFlow(flow[i]);
      const bar = node('rect', { class: 'principal', x: x, y: yP, width: barW, height: T + plotH - yP });
      node('title', {}, p.month[i].slice(0, 7) + ' principal ' + money(p.principal[i]), bar);
      const top = node('rect', { class: 'interest', x: x, y: yI, width: barW, height: yP - yI });
      node('title', {}, p.month[i].slice(0, 7) + ' interest ' + money(p.interest[i]), top);
      const cx = L + i * step + step / 2;
      path += (i ? ' L' : 'M') + cx.toFixed(1) + ' ' + yOut(p.outstanding[i]).toFixed(1);
      if (i % every === 0) {
        node('text', { x: cx, y: T + plotH + 16, 'text-anchor': 'middle' }, p.month[i].slice(0, 7));
      }
    }
    const line = node('path', { class: 'outstanding', d: path });
    node('title', {}, 'Outstanding: ' + money(p.outstanding[0]) + ' in ' + p.month[0].slice(0, 7) + ', ' +
      money(p.outstanding[n - 1]) + ' in ' + p.month[n - 1].slice(0, 7), line);
    const legend = document.getElementById('projection-legend');
    for (const [cls, label] of [['principal', 'Principal'], ['interest', 'Interest'], ['outstanding', 'Outstanding (right axis)']]) {
      legend.append(el('span', 'key key-' + cls), document.createTextNode(label));
    }
  }
  drawProjection();
  // Bank feedback (atlas-xl bank import): statement exceptions and the rejected / returned payouts
  function drawBank() {
    const bank = DATA.bank;
    if (!bank || (!bank.statements.length && !bank.rejected_returned.length)) return;
    document.getElementById('bank').hidden = false;
    const notes = bank.statements.map(function (s) {
      const b = s.balance;
      return 'Statement ' + s.message_id + ' (' + s.from + ' to ' + s.to + '): ' + s.matched_count +
        ' matched, ' + s.exceptions.length + ' exception(s); balance check ' +
        (b.ok ? 'OK' : 'differs by ' + money(b.difference_cents));
    });
    document.getElementById('bank-note').textContent = notes.join(' \u00b7 ');
    const exceptions = tbodyOf('bank-exceptions');
    for (const s of bank.statements) {
      for (const x of s.exceptions) {
        addRow(exceptions, [['text', s.message_id], ['text', x.kind], ['text', x.reference],
          ['money', x.amount_cents], ['int', x.age_days], ['text', x.candidate]]);
      }
    }
    const payouts = tbodyOf('bank-payouts');
    for (const p of bank.rejected_returned) {
      addRow(payouts, [['text', p.run], ['text', p.client_id], ['text', p.state], ['text', p.reason_code || ''],
        ['text', p.action], ['money', p.amount_cents]]);
    }
  }
  drawBank();
  document.body.dataset.ready = 'yes'; // tests wait for this
})();
