(function () {
  const data = JSON.parse(document.getElementById('churnml-data').textContent);
  const t = data.text, rows = data.accounts;
  const body = document.querySelector('#outreach tbody');
  const filters = {tier: '', utier: '', touch: '', owner: '', segment: ''};
  let query = '', sortKey = 'risk_arr', sortDir = -1, selected = null;
  const pct = x => x === null ? '-' : (x * 100).toFixed(0) + '%';
  const money = x => x === null ? '-' : Math.round(x).toLocaleString('en-US');
  const columns = [
    ['name', r => r.name], ['owner', r => r.owner], ['segment', r => r.segment],
    ['p', r => pct(r.p) + (r.tier ? ' (' + r.tier + ')' : '')],
    ['u', r => pct(r.u) + (r.utier ? ' (' + r.utier + ')' : '')],
    ['health', r => String(r.health)], ['arr', r => money(r.arr)],
    ['risk_arr', r => money(r.risk_arr)], ['touch', r => r.touch],
    ['play_name', r => r.play_name], ['due', r => r.due],
    ['change', r => r.change === null ? '' : (r.change > 0 ? '+' : '') + (r.change * 100).toFixed(1) + ' pt'],
  ];
  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }
  function visible() {
    const q = query.toLowerCase();
    return rows.filter(r => Object.keys(filters).every(k => !filters[k] || r[k] === filters[k])
      && (!q || r.name.toLowerCase().includes(q) || r.id.toLowerCase().includes(q)));
  }
  function render() {
    const list = visible().slice().sort((a, b) => {
      const x = a[sortKey], y = b[sortKey];
      if (x === y) return 0;
      if (x === null) return 1;
      if (y === null) return -1;
      return (x < y ? -1 : 1) * sortDir;
    });
    body.replaceChildren(...list.map(r => {
      const tr = el('tr');
      tr.dataset.id = r.id;
      tr.dataset.tier = r.tier;
      if (selected === r.id) tr.className = 'selected';
      columns.forEach(([key, fmt]) => tr.appendChild(el('td', fmt(r), key === 'p' ? 'tier-' + r.tier : undefined)));
      tr.addEventListener('click', () => show(r));
      return tr;
    }));
    document.getElementById('shown').textContent = list.length + ' / ' + rows.length + ' ' + t.shown;
  }
  function bars(title, items, cls) {
    const box = el('div', undefined, 'driver-group');
    box.appendChild(el('h4', title));
    const max = Math.max(0.0001, ...items.map(d => Math.abs(d.impact)));
    items.forEach(d => {
      const line = el('div', undefined, 'driver ' + cls);
      line.appendChild(el('span', d.label, 'family'));
      const bar = el('span', undefined, 'bar');
      bar.style.width = (100 * Math.abs(d.impact) / max).toFixed(0) + '%';
      line.appendChild(el('span', undefined, 'track')).appendChild(bar);
      line.appendChild(el('span', d.sentence, 'sentence'));
      box.appendChild(line);
    });
    return box;
  }
  function show(r) {
    selected = r.id;
    const view = document.getElementById('account-view');
    view.replaceChildren();
    view.appendChild(el('h3', r.name));
    const facts = el('p');
    facts.textContent = t.risk + ' ' + pct(r.p) + ' (' + r.tier + ') · ' + t.upsell + ' ' + pct(r.u)
      + ' · ' + t.health + ' ' + r.health + ' · ' + t.arr + ' ' + money(r.arr) + ' · ' + t.touch + ' ' + r.touch;
    view.appendChild(facts);
    view.appendChild(el('p', t.play + ': ' + r.play_name + ' — ' + r.play + ' (' + t.owner + ': ' + r.owner + ', ' + t.due + ' ' + r.due + ')', 'play'));
    if (r.change_text) view.appendChild(el('p', t.change + ': ' + r.change_text, 'change'));
    view.appendChild(bars(t.risk_drivers, r.drivers.risk || [], 'risk'));
    view.appendChild(bars(t.protective, r.drivers.protective || [], 'protective'));
    view.appendChild(bars(t.upsell_drivers, (r.upsell_drivers.risk || []), 'expansion'));
    render();
  }
  document.querySelectorAll('select[data-filter]').forEach(s => {
    const key = s.dataset.filter;
    const values = Array.from(new Set(rows.map(r => r[key]))).filter(v => v !== '').sort();
    values.forEach(v => s.appendChild(el('option', v)).setAttribute('value', v));
    s.addEventListener('change', () => { filters[key] = s.value; render(); });
  });
  document.getElementById('search').addEventListener('input', e => { query = e.target.value; render(); });
  document.querySelectorAll('#outreach th[data-key]').forEach(th => th.addEventListener('click', () => {
    const key = th.dataset.key;
    sortDir = sortKey === key ? -sortDir : (key === 'name' || key === 'owner' || key === 'segment' ? 1 : -1);
    sortKey = key;
    render();
  }));
  render();
})();
