// The drawing of one translation's attention, shared by the page of
// `azul attention --format html` and the playground of `azul serve`.
// It reads the JSON of `azul attention --format json` (every kind, layer and
// head) and draws, in the spirit of bertviz:
//   head view   the query tokens and the key tokens in two columns, joined by
//               lines as strong as the attention, one colour per head; hover a
//               token to see only its lines, click a head to hide or show it;
//   model view  every layer × head as a small heat map; click one to open it
//               in the head view;
// with a selector for encoder, decoder and cross attention.  Tokens are only
// ever inserted as text, never as HTML.
'use strict';

const attentionColours = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2',
  '#7f7f7f', '#bcbd22', '#17becf', '#393b79', '#637939', '#8c6d31', '#843c39', '#7b4173', '#3182bd'];

// data.attention is a list of maps; the views want, per kind, its labels and
// layers[layer][head] = matrix (the mean over heads is left out).
function attentionByKind(data) {
  const kinds = {};
  for (const m of data.attention) {
    if (m.head === 'mean') continue;
    const k = kinds[m.kind] || (kinds[m.kind] = { rows: m.rows, cols: m.cols, layers: [] });
    (k.layers[m.layer] || (k.layers[m.layer] = []))[m.head] = m.weights;
  }
  return kinds;
}

function svgElement(name, attrs, parent) {
  const e = document.createElementNS('http://www.w3.org/2000/svg', name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}

function htmlElement(name, props, parent) {
  const e = document.createElement(name);
  Object.assign(e, props || {});
  if (parent) parent.appendChild(e);
  return e;
}

// Builds the controls and both views inside box; returns {show(data)} to
// draw another translation (or the same sentence at another training step)
// keeping the chosen kind, layer and heads.  onQuery(kind, layer, head, row),
// when given, is called when a query token of the head view is clicked.
function attentionView(box, onQuery) {
  const state = { kind: 'cross', layer: -1, heads: null, hover: null, data: null, kinds: null };
  box.classList.add('attention-view');
  const controls = htmlElement('div', { className: 'attention-controls' }, box);
  const kindLabel = htmlElement('label', { textContent: 'Attention ' }, controls);
  const kindSelect = htmlElement('select', { className: 'attention-kind' }, kindLabel);
  for (const [value, text] of [['encoder', 'encoder self-attention'], ['decoder', 'decoder self-attention (masked)'],
    ['cross', 'encoder-decoder (cross) attention']]) {
    htmlElement('option', { value, textContent: text, selected: value === 'cross' }, kindSelect);
  }
  const layerLabel = htmlElement('label', { textContent: ' Layer ' }, controls);
  const layerSelect = htmlElement('select', { className: 'attention-layer' }, layerLabel);
  htmlElement('span', { textContent: ' Heads (click to hide or show): ' }, controls);
  const swatches = htmlElement('span', { className: 'attention-heads' }, controls);
  htmlElement('h3', { textContent: 'Head view' }, box);
  htmlElement('p', { className: 'caption', textContent: 'Left: the queries; right: the keys they look at. ' +
    'Hover a token to see only its lines' + (onQuery ? '; click it for the arithmetic.' : '.') }, box);
  const headSvg = svgElement('svg', { class: 'attention-headview', width: 520, height: 100 }, box);
  htmlElement('h3', { textContent: 'Model view' }, box);
  htmlElement('p', { className: 'caption', textContent: 'Every layer (rows) and head (columns); click one to open it above.' }, box);
  const grid = htmlElement('div', { className: 'attention-modelview' }, box);

  const kindData = () => state.kinds[state.kind];

  function fillLayers() {
    layerSelect.replaceChildren();
    kindData().layers.forEach((_, l) => htmlElement('option', { value: l, textContent: l }, layerSelect));
    const last = kindData().layers.length - 1;
    state.layer = state.layer < 0 || state.layer > last ? last : state.layer;
    layerSelect.value = state.layer;
  }

  function drawSwatches() {
    swatches.replaceChildren();
    for (let h = 0; h < state.data.heads; h++) {
      const s = htmlElement('span', { className: 'swatch' + (state.heads.has(h) ? '' : ' off'),
        textContent: 'head ' + h }, swatches);
      s.style.background = attentionColours[h % attentionColours.length];
      s.addEventListener('click', () => {
        if (state.heads.has(h)) state.heads.delete(h); else state.heads.add(h);
        drawSwatches(); drawHeadView();
      });
    }
  }

  function drawHeadView() {
    const d = kindData();
    headSvg.replaceChildren();
    const step = 24, top = 20, left = 150, right = 370;
    headSvg.setAttribute('height', top + step * Math.max(d.rows.length, d.cols.length) + 10);
    const matrices = d.layers[state.layer];
    for (const h of state.heads) {
      matrices[h].forEach((row, i) => row.forEach((w, j) => {
        if (w < 0.01 || (state.hover !== null && state.hover !== i)) return;
        svgElement('line', { x1: left, y1: top + i * step, x2: right, y2: top + j * step,
          stroke: attentionColours[h % attentionColours.length], 'stroke-width': 3, 'stroke-opacity': w }, headSvg);
      }));
    }
    d.rows.forEach((t, i) => {
      const e = svgElement('text', { x: left - 8, y: top + i * step + 5, 'text-anchor': 'end', class: 'query',
        'font-weight': state.hover === i ? 'bold' : 'normal' }, headSvg);
      e.textContent = t;
      e.addEventListener('mouseenter', () => { state.hover = i; drawHeadView(); });
      e.addEventListener('mouseleave', () => { state.hover = null; drawHeadView(); });
      if (onQuery) {
        e.style.cursor = 'pointer';
        e.addEventListener('click', () => {
          const head = state.heads.size ? Math.min(...state.heads) : 0;
          onQuery(state.kind, state.layer, head, i);
        });
      }
    });
    d.cols.forEach((t, j) => { svgElement('text', { x: right + 8, y: top + j * step + 5 }, headSvg).textContent = t; });
  }

  function drawThumbnail(matrix, d) {
    const c = htmlElement('canvas', { width: 100, height: 100, className: 'thumb' });
    const g = c.getContext('2d'), cw = 100 / d.cols.length, ch = 100 / d.rows.length;
    matrix.forEach((row, i) => row.forEach((w, j) => {
      const shade = Math.round(255 - 255 * w);
      g.fillStyle = 'rgb(' + shade + ',' + shade + ',255)';
      g.fillRect(j * cw, i * ch, Math.ceil(cw), Math.ceil(ch));
    }));
    return c;
  }

  function drawModelView() {
    const d = kindData();
    grid.replaceChildren();
    grid.style.gridTemplateColumns = 'repeat(' + state.data.heads + ', 110px)';
    let count = 0;
    d.layers.forEach((heads, l) => heads.forEach((m, h) => {
      const cell = htmlElement('div', {}, grid);
      const c = drawThumbnail(m, d);
      c.dataset.layer = l; c.dataset.head = h;
      c.addEventListener('click', () => {
        state.layer = l; state.heads = new Set([h]);
        layerSelect.value = l;
        drawSwatches(); drawHeadView();
        headSvg.scrollIntoView();
      });
      cell.appendChild(c);
      htmlElement('div', { className: 'caption', textContent: 'layer ' + l + ', head ' + h }, cell);
      count++;
    }));
    box.dataset.thumbnails = count;
  }

  function redraw() { fillLayers(); drawSwatches(); drawHeadView(); drawModelView(); }
  kindSelect.addEventListener('change', () => { state.kind = kindSelect.value; state.hover = null; redraw(); });
  layerSelect.addEventListener('change', () => { state.layer = +layerSelect.value; drawHeadView(); });

  return {
    show(data) {
      const heads = state.data && state.data.heads === data.heads ? state.heads : null;
      state.data = data;
      state.kinds = attentionByKind(data);
      state.heads = heads || new Set([...Array(data.heads).keys()]);
      state.hover = null;
      redraw();
    },
  };
}

// A training-step slider over an attention history (azul train --watch):
// a choice of watched sentence, the slider, and the step's dev loss and BLEU;
// calls show(maps) with the chosen sentence's maps at the chosen step.
// Returns {update(history)} to take a longer history (a run still training),
// staying on the latest step when the slider was there.
function historySlider(box, history, show) {
  const state = { history, sentence: 0, step: history.steps.length - 1 };
  box.classList.add('history-slider');
  const sentenceLabel = htmlElement('label', { textContent: 'Watched sentence ' }, box);
  const sentenceSelect = htmlElement('select', { className: 'history-sentence' }, sentenceLabel);
  const slider = htmlElement('input', { type: 'range', className: 'history-step', min: 0, step: 1 }, box);
  const caption = htmlElement('span', { className: 'history-caption' }, box);

  function fillSentences() {
    sentenceSelect.replaceChildren();
    state.history.sentences.forEach((s, i) => htmlElement('option', { value: i, textContent: s }, sentenceSelect));
    sentenceSelect.value = state.sentence;
  }

  function draw() {
    const steps = state.history.steps;
    slider.max = Math.max(steps.length - 1, 0);
    slider.value = state.step;
    if (!steps.length) {
      caption.textContent = 'no validation yet';
      return;
    }
    const s = steps[state.step], maps = s.maps[state.sentence];
    const number = (x, digits) => (typeof x === 'number' ? x.toFixed(digits) : '?');
    caption.textContent = 'step ' + s.step + ': dev loss ' + number(s.dev_loss, 3) + ', BLEU ' +
      number(s.bleu, 2) + ' \u2014 \u201c' + maps.translation + '\u201d';
    box.dataset.step = s.step;
    show(maps);
  }

  slider.addEventListener('input', () => { state.step = +slider.value; draw(); });
  sentenceSelect.addEventListener('change', () => { state.sentence = +sentenceSelect.value; draw(); });
  fillSentences();
  draw();
  return {
    update(history) {
      const atEnd = state.step >= state.history.steps.length - 1;
      state.history = history;
      if (atEnd || state.step >= history.steps.length) state.step = history.steps.length - 1;
      fillSentences();
      draw();
    },
  };
}
