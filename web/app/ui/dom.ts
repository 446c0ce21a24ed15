// Tiny DOM builder. Text always goes through textContent: comm, args and stack frames come from
// arbitrary processes and must never be parsed as HTML.

type Attr = string | number | boolean | undefined | null | ((ev: Event) => void);
type Child = Node | string | number | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, Attr> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v as EventListener);
    else if (k === 'class') el.className = String(v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, ...children);
  return el;
}

export function append(el: Element, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

/** A collapsible panel; closed panels are not fetched. */
export interface PanelFrame {
  root: HTMLDetailsElement;
  body: HTMLDivElement;
  note: HTMLDivElement;
  tools: HTMLSpanElement;
  isOpen(): boolean;
}

export function panelFrame(id: string, title: string, subtitle: string, open = true): PanelFrame {
  const tools = h('span', { class: 'tools' });
  const note = h('div', { class: 'note', role: 'status' });
  const body = h('div', { class: 'panel-body' });
  const root = h(
    'details',
    { class: 'panel', id, open },
    h('summary', {}, h('span', { class: 'title' }, title), h('span', { class: 'subtitle' }, subtitle)),
    h('div', { class: 'panel-tools' }, tools),
    note,
    body,
  );
  return { root, body, note, tools, isOpen: () => root.open };
}
