// The playground (serve/playground.html): translates what is typed, shows the
// n-best list, the word alignment, the tokens and every attention map, and
// one query's arithmetic when a translated token is clicked.  It talks only
// to the API of `azul serve` (serve/api.h) and inserts text only as text.
'use strict';

window.addEventListener('error', () => { document.body.dataset.errors = +(document.body.dataset.errors || 0) + 1; });
window.addEventListener('unhandledrejection', () => {
  document.body.dataset.errors = +(document.body.dataset.errors || 0) + 1;
});

const $ = id => document.getElementById(id);
const view = attentionView($('attention'), (kind, layer, head, row) => explain(kind, layer, head, row));
const page = { text: '', target: '', asked: 0, timer: null, model: null, slider: null, historySteps: '' };

function make(name, props, parent) {
  const e = document.createElement(name);
  Object.assign(e, props || {});
  if (parent) parent.appendChild(e);
  return e;
}

async function api(path, request) {
  const response = await fetch(path, request === undefined ? {} : {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(request),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error || response.statusText);
  return answer;
}

function setStatus(text, isError) {
  $('status').textContent = text;
  $('status').classList.toggle('error', !!isError);
}

// ---------------------------------------------------------------- the model

async function showModel() {
  const m = await api('/api/model');
  const changed = page.model && page.model.model_version !== m.model_version;
  page.model = m;
  const c = m.config, t = m.training || {};
  const parts = [c.d_model + '-wide', c.n_encoder_layers + '+' + c.n_decoder_layers + ' layers',
    c.n_heads + ' heads', m.source_vocab + '/' + m.target_vocab + ' tokens',
    (m.parameters / 1e6).toFixed(2) + 'M parameters'];
  if (t.preset) parts.unshift(t.preset + ' preset');
  $('model-info').textContent = 'Model: ' + parts.join(', ') + '; length penalty ' + m.length_penalty +
    (m.live ? '; serving ' + m.model_file + ' of a live run (version ' + m.model_version + ')' : '');
  if (changed && page.text) translate();  // the run wrote a newer model: its translation
}

// ---------------------------------------------------------------- the run

// The attention history of the run's watched sentences, with its slider.
async function showHistory() {
  const history = await api('/api/history');
  const last = history.steps[history.steps.length - 1];
  const key = history.steps.length + '@' + (last ? last.step : 0);  // a resume or a thinning changes it too
  if (key === page.historySteps) return;
  page.historySteps = key;
  $('history-panel').hidden = false;
  if (page.slider) {
    page.slider.update(history);
    return;
  }
  const historyView = attentionView($('history-view'));
  page.slider = historySlider($('history'), history, maps => historyView.show(maps));
}

// The losses (left axis) and dev BLEU (right axis) against steps.
function drawCurves(c) {
  const svg = $('curves'), width = 720, height = 260, left = 50, right = 50, top = 15, bottom = 30;
  svg.replaceChildren();
  const all = c.train_loss.concat(c.valid_loss);
  if (!all.length) return;
  const maxStep = Math.max(...all.map(p => p[0]), ...c.bleu.map(p => p[0]), 1);
  const maxLoss = Math.max(...all.map(p => p[1]), 1e-9), maxBleu = Math.max(...c.bleu.map(p => p[1]), 1);
  const x = s => left + (width - left - right) * s / maxStep;
  const y = (v, max) => top + (height - top - bottom) * (1 - v / max);
  svgElement('line', { x1: left, y1: height - bottom, x2: width - right, y2: height - bottom, stroke: '#999' }, svg);
  svgElement('line', { x1: left, y1: top, x2: left, y2: height - bottom, stroke: '#999' }, svg);
  const label = (text, attrs) => { svgElement('text', Object.assign({ 'font-size': 11, fill: '#555' }, attrs), svg).textContent = text; };
  label('step ' + maxStep, { x: width - right, y: height - 10, 'text-anchor': 'end' });
  label(maxLoss.toFixed(2), { x: left - 4, y: top + 4, 'text-anchor': 'end' });
  label('BLEU ' + maxBleu.toFixed(1), { x: width - right + 4, y: top + 4 });
  const series = [[c.train_loss, maxLoss, '#1f77b4', 'training loss'], [c.valid_loss, maxLoss, '#d62728', 'dev loss'],
    [c.bleu, maxBleu, '#2ca02c', 'dev BLEU']];
  series.forEach(([points, max, colour, name], k) => {
    if (!points.length) return;
    svgElement('polyline', { points: points.map(p => x(p[0]) + ',' + y(p[1], max)).join(' '), fill: 'none',
      stroke: colour, 'stroke-width': 2, class: 'curve' }, svg);
    label(name, { x: left + 10 + 110 * k, y: height - 10, fill: colour });
  });
  const last = c.valid_loss[c.valid_loss.length - 1], bleu = c.bleu[c.bleu.length - 1];
  $('curves-caption').textContent = last ? 'At step ' + last[0] + ': dev loss ' + last[1].toFixed(3) +
    (bleu ? ', dev BLEU ' + bleu[1].toFixed(2) : '') + '.' : '';
  svg.dataset.points = all.length;
}

async function showCurves() {
  drawCurves(await api('/api/curves'));
  $('curves-panel').hidden = false;
}

// A run still training: its curves, history and newest model, every few seconds.
async function follow() {
  for (;;) {
    await new Promise(done => setTimeout(done, 3000));
    try {
      await showModel();
      await showCurves();
      if (page.model.history) await showHistory();
    } catch (e) {
      setStatus(e.message, true);
    }
  }
}

async function start() {
  await showModel();
  if (page.model.history) await showHistory();
  if (page.model.live) {
    await showCurves();
    follow();
  }
}

// ---------------------------------------------------------------- translating

function scheduleTranslation() {
  clearTimeout(page.timer);
  page.timer = setTimeout(translate, 250);  // debounced: one request when typing pauses
}

async function translate() {
  const text = $('text').value.trim();
  const asked = ++page.asked;
  if (!text) {
    for (const id of ['translation-panel', 'attention-panel', 'explain-panel']) $(id).hidden = true;
    setStatus('');
    return;
  }
  const beam = +$('beam').value;
  setStatus('translating…');
  try {
    const started = performance.now();
    const t = await api('/api/translate', { text, beam, n_best: Math.min(beam, 4) });
    if (asked !== page.asked) return;  // a newer request is on its way
    const best = t.translations[0];
    page.text = text;
    page.target = best.text;
    showTranslations(t);
    showAlignment(t);
    $('explain-panel').hidden = true;
    // the maps of the translation shown (teacher-forced: beam search may
    // have chosen another than the greedy one); the translation stays
    // whether or not they come
    let maps = null;
    try {
      maps = await api('/api/attention', { text, target: best.text });
    } catch (e) {
      if (asked === page.asked) setStatus('translated, but its attention: ' + e.message, true);
    }
    if (asked !== page.asked) return;
    showTokens(t, maps);
    $('attention-panel').hidden = !maps;
    if (maps) {
      view.show(maps);
      setStatus('translated in ' + Math.round(performance.now() - started) + ' ms');
    }
    // set last, once the maps are drawn too, so that whoever waits for it
    // (the browser test) finds the whole translation on the page
    document.body.dataset.translation = best.text;
    document.body.dataset.ready = '1';
  } catch (e) {
    if (asked === page.asked) setStatus(e.message, true);
  }
}

function showTranslations(t) {
  $('translation-panel').hidden = false;
  const list = $('nbest');
  list.replaceChildren();
  for (const tr of t.translations) {
    const item = make('li', {}, list);
    make('span', { className: 'text', textContent: tr.text }, item);
    make('span', { className: 'score', textContent: 'score ' + tr.score.toFixed(3) + ', log p ' +
      tr.log_prob.toFixed(3) }, item);
  }
}

// The words of both sentences, and a line for each aligned pair.
function showAlignment(t) {
  const best = t.translations[0];
  const words = (box, list, side) => {
    box.replaceChildren();
    return list.map((w, i) => make('span', { className: 'word', textContent: w, id: side + '-word-' + i }, box));
  };
  const src = words($('source-words'), t.source_words, 'source');
  const tgt = words($('target-words'), best.words, 'target');
  const svg = $('alignment-links');
  svg.replaceChildren();
  const box = svg.getBoundingClientRect();
  for (const [s, w] of best.alignment) {
    if (!src[s] || !tgt[w]) continue;
    const a = src[s].getBoundingClientRect(), b = tgt[w].getBoundingClientRect();
    svgElement('line', { x1: a.left + a.width / 2 - box.left, y1: 0, x2: b.left + b.width / 2 - box.left,
      y2: box.height, 'data-source': s, 'data-target': w }, svg);
  }
  svg.dataset.links = svg.childElementCount;
}

// The pieces the model read and wrote, with their ids; byte fallbacks dashed.
// A translated token opens its cross-attention's arithmetic.
function showTokens(t, maps) {
  const box = $('tokens');
  box.replaceChildren();
  const row = (label, tokens, onClick) => {
    const r = make('div', { className: 'row' }, box);
    make('span', { className: 'side', textContent: label }, r);
    tokens.forEach((tok, i) => {
      const e = make('span', { className: 'token' + (tok.byte ? ' byte' : '') + (onClick ? ' clickable' : ''),
        textContent: tok.piece, title: tok.byte ? 'a byte fallback' : 'token ' + tok.id }, r);
      e.dataset.row = i;
      make('small', { textContent: tok.id }, e);
      if (onClick) e.addEventListener('click', () => onClick(i, e));
    });
  };
  row('source', t.source_tokens);
  // the rows of cross-attention: the translation as the attention tokenized
  // it, and <eos>; with the ids the search wrote when they are the same tokens
  const written = t.translations[0].tokens.concat([{ piece: '<eos>', id: 3, byte: false }]);
  if (!maps) {
    row('target', written);  // nothing to explain without the maps
    return;
  }
  const same = written.length === maps.target_tokens.length && written.every((w, i) => w.piece === maps.target_tokens[i]);
  const target = same ? written : maps.target_tokens.map(piece => ({ piece, id: '', byte: /^<0x[0-9A-F]{2}>$/.test(piece) }));
  row('target', target, (i, e) => {
    for (const c of box.querySelectorAll('.chosen')) c.classList.remove('chosen');
    e.classList.add('chosen');
    explain('cross', -1, 0, i);
  });
}

// ---------------------------------------------------------------- one query's arithmetic

async function explain(kind, layer, head, row) {
  const request = { text: page.text, target: page.target, token: '#' + row, kind, head };
  if (layer >= 0) request.layer = layer;
  try {
    showExplanation(await api('/api/explain', request));
  } catch (e) {
    setStatus(e.message, true);
  }
}

function vectorText(v) {
  return '[' + v.map(x => x.toFixed(3)).join(', ') + ']';
}

function showExplanation(e) {
  $('explain-panel').hidden = false;
  $('explain-title').textContent = 'How "' + e.query + '" attends: ' + e.kind + ' attention, layer ' +
    e.layer + ', head ' + e.head;
  const box = $('explanation');
  box.replaceChildren();
  make('p', { textContent: '1. Its query q = x·W_Qᵀ + b_Q, this head\'s ' + e.head_size + ' numbers:' }, box);
  make('p', { className: 'vector', textContent: vectorText(e.q) }, box);
  make('p', { textContent: '2. Its dot product with each key, scaled by 1/√' + e.head_size + ' = ' +
    e.scale.toFixed(6) + ', and the softmax:' }, box);
  const table = make('table', {}, box);
  const head = make('tr', {}, table);
  for (const h of ['key', 'q·k', 'scaled', 'weight', '']) make('th', { textContent: h }, head);
  for (const k of e.keys) {
    const r = make('tr', {}, table);
    make('td', { textContent: k.key }, r);
    if (k.masked) {
      for (const x of ['masked', '−∞', '0', '']) make('td', { textContent: x }, r);
      continue;
    }
    for (const x of [k.dot.toFixed(4), k.scaled.toFixed(4), k.weight.toFixed(4)]) make('td', { textContent: x }, r);
    const bar = make('span', { className: 'bar' }, make('td', {}, r));
    bar.style.width = Math.round(120 * k.weight) + 'px';
  }
  make('p', { textContent: '3. The values weighted and summed: the head\'s output' }, box);
  make('p', { className: 'vector', textContent: vectorText(e.sum) }, box);
  make('p', { textContent: 'It differs from the model\'s own output by at most ' + e.own_difference.toExponential(1) +
    '. "' + e.query + '" looks most at "' + e.strongest + '".' }, box);
  box.dataset.query = e.query;
  $('explain-panel').scrollIntoView();
}

// ---------------------------------------------------------------- start

$('text').addEventListener('input', scheduleTranslation);
$('beam').addEventListener('change', translate);
start().catch(e => setStatus(e.message, true));
if ($('text').value.trim()) translate();
