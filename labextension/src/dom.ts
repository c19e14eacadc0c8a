/**
 * A tiny DOM builder. Strings always become text nodes: nothing here ever parses HTML, so
 * whatever a student wrote (and the server echoes back as an excerpt) stays text.
 */

export type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | undefined | null> = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) {
      continue;
    }
    if (/^on/i.test(name)) {
      throw new Error(`refusing to set event handler attribute ${name}`);
    }
    el.setAttribute(name, value);
  }
  append(el, children);
  return el;
}

export function append(parent: Node, children: (Child | Child[])[]): void {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    parent.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
}

/** A link that opens outside JupyterLab; `url` must already have passed `safeUrl`. */
export function externalLink(url: string, label: string): HTMLAnchorElement {
  return h(
    'a',
    {
      href: url,
      target: '_blank',
      rel: 'noopener noreferrer',
      class: 'jp-TosGuard-link'
    },
    label
  );
}
