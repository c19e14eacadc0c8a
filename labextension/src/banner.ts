/**
 * The banner at the top of a notebook: what the guard decided about this notebook's cells.
 *
 * One entry per rule set and action (repeats collapse into a count), newest first, at most
 * `maxVisible` shown at once (the rest behind "Show n more"), each dismissible with its ×
 * button or Escape. Block and confirm entries are announced as alerts, warnings politely.
 * Entries are rebuilt only when they change, so a screen reader does not hear old alerts
 * again whenever a new one arrives.
 */

import type { TranslationBundle } from '@jupyterlab/translation';
import { Message, MessageLoop } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { externalLink, h } from './dom';
import { fitToContent } from './layout';
import { IBannerEntry, VerdictStore } from './model/verdicts';
import { actionLabel, excerptNode, isExpired, topSeverity } from './renderer';

export interface IBannerHandlers {
  dismiss(key: string): void;
  /** confirm entries: re-run the cell acknowledged */
  confirm?(entry: IBannerEntry): void;
}

/** The one-line summary of an entry: "Blocked: XMRig cryptocurrency miner (and 1 more rule)". */
export function entrySummary(entry: IBannerEntry, trans: TranslationBundle): string {
  const rules = entry.payload.rules;
  if (!rules.length) {
    return entry.payload.reason || trans.__('The terms-of-use check failed');
  }
  const first = rules[0].title;
  return rules.length > 1
    ? trans._n('%2 (and %1 more rule)', '%2 (and %1 more rules)', rules.length - 1, first)
    : first;
}

function ackNode(
  entry: IBannerEntry,
  trans: TranslationBundle,
  handlers: IBannerHandlers
): HTMLElement | null {
  const payload = entry.payload;
  if (entry.action !== 'confirm' || !payload.confirm) {
    return null;
  }
  const status = (text: string) =>
    h('span', { class: 'jp-TosGuard-confirmStatus', role: 'status' }, text);
  switch (entry.ack) {
    case 'running':
      return status(trans.__('Running the cell with your acknowledgement…'));
    case 'done':
      return status(trans.__('Acknowledged: the cell ran.'));
    case 'failed':
      return status(
        trans.__(
          'The cell for this notice was not found or could not run; run it again to be asked again.'
        )
      );
    default:
      break;
  }
  if (isExpired(payload.confirm.expires)) {
    return status(trans.__('Expired: run the cell again to be asked again.'));
  }
  if (!handlers.confirm) {
    return null;
  }
  const button = h(
    'button',
    { type: 'button', class: 'jp-Button jp-mod-styled jp-mod-warn jp-TosGuard-runAnyway' },
    trans.__('I understand — run anyway')
  );
  button.addEventListener('click', () => handlers.confirm?.(entry));
  return button;
}

/** One banner entry. */
export function renderEntry(
  entry: IBannerEntry,
  trans: TranslationBundle,
  handlers: IBannerHandlers
): HTMLElement {
  const payload = entry.payload;
  const summary = entrySummary(entry, trans);
  const first = payload.rules[0];
  const match = first?.matches[0];
  const countText = entry.count > 1 ? trans._n('%1 time', '%1 times', entry.count) : '';
  const dismiss = h(
    'button',
    {
      type: 'button',
      class: 'jp-TosGuard-dismiss',
      'aria-label': trans.__('Dismiss: %1', summary),
      title: trans.__('Dismiss (Escape)')
    },
    '×'
  );
  dismiss.addEventListener('click', () => handlers.dismiss(entry.key));
  const links: Node[] = [];
  if (payload.info_url) {
    links.push(externalLink(payload.info_url, trans.__('Terms of use')));
  }
  if (payload.appeal_url) {
    links.push(externalLink(payload.appeal_url, trans.__('Ask for an exemption')));
  }
  const entryNode = h(
    'div',
    {
      class: `jp-TosGuard-entry jp-TosGuard-action-${entry.action} jp-TosGuard-severity-${topSeverity(payload)}`,
      role: entry.action === 'warn' ? 'status' : 'alert',
      'data-key': entry.key,
      'data-action': entry.action,
      'data-count': String(entry.count)
    },
    h(
      'div',
      { class: 'jp-TosGuard-entryHead' },
      h(
        'span',
        { class: 'jp-TosGuard-badge' },
        // once acknowledged and run, the entry no longer waits for anything
        entry.ack === 'done' ? trans.__('Acknowledged') : actionLabel(entry.action, trans)
      ),
      ' ',
      h('span', { class: 'jp-TosGuard-title' }, summary),
      countText
        ? h(
            'span',
            { class: 'jp-TosGuard-count', title: countText },
            // words, not "×2": next to the dismiss button a multiplication sign reads as a close button
            `(${countText})`
          )
        : null,
      h('span', { class: 'jp-TosGuard-spacer' }),
      dismiss
    ),
    first?.message ? h('div', { class: 'jp-TosGuard-message' }, first.message) : null,
    match ? excerptNode(match, trans) : null,
    ackNode(entry, trans, handlers),
    links.length
      ? h('div', { class: 'jp-TosGuard-links' }, ...links.flatMap((l, i) => (i ? [' · ', l] : [l])))
      : null
  );
  return entryNode;
}

function signature(entry: IBannerEntry): string {
  return `${entry.seq}|${entry.count}|${entry.ack}`;
}

export interface IVerdictBannerOptions {
  store: VerdictStore;
  trans: TranslationBundle;
  /** entries shown before "Show n more" (default 3) */
  maxVisible?: number;
  onConfirm?: (entry: IBannerEntry) => void;
}

/** The banner widget; hidden while it has nothing to say. */
export class VerdictBanner extends Widget {
  constructor(options: IVerdictBannerOptions) {
    super();
    this.store = options.store;
    this._trans = options.trans;
    this._maxVisible = Math.max(1, options.maxVisible ?? 3);
    this._onConfirm = options.onConfirm;
    this.addClass('jp-TosGuard-banner');
    this.node.setAttribute('role', 'region');
    this.node.setAttribute('aria-label', this._trans.__('Terms of use notices'));
    this._list = h('div', { class: 'jp-TosGuard-entries', 'aria-live': 'polite' });
    this._more = h('button', { type: 'button', class: 'jp-TosGuard-more' });
    this._more.addEventListener('click', () => {
      this._expanded = !this._expanded;
      this.render();
    });
    this._dismissAll = h(
      'button',
      { type: 'button', class: 'jp-TosGuard-dismissAll' },
      this._trans.__('Dismiss all')
    );
    this._dismissAll.addEventListener('click', () => this.store.dismissAll());
    this._footer = h('div', { class: 'jp-TosGuard-footer' }, this._more, this._dismissAll);
    this._inner = h('div', { class: 'jp-TosGuard-bannerInner' }, this._list, this._footer);
    this.node.append(this._inner);
    this.node.addEventListener('keydown', this);
    // The notebook's content header is a lumino BoxPanel: it sizes children by their
    // min-height, not by their content. Follow the content's natural height.
    if (typeof ResizeObserver !== 'undefined') {
      this._observer = new ResizeObserver(() => this.fit());
      this._observer.observe(this._inner);
    }
    this.store.changed.connect(this._onChanged, this);
    this.render();
  }

  readonly store: VerdictStore;

  /** Rendered entry nodes by key (for tests and for focus handling). */
  entryNode(key: string): HTMLElement | undefined {
    return this._nodes.get(key)?.node;
  }

  handleEvent(event: Event): void {
    if (event.type === 'keydown' && (event as KeyboardEvent).key === 'Escape') {
      const target = event.target as HTMLElement | null;
      const entry = target?.closest?.('.jp-TosGuard-entry') as HTMLElement | null;
      const key = entry?.dataset.key ?? this.store.entries[0]?.key;
      if (key) {
        event.preventDefault();
        event.stopPropagation();
        this._dismiss(key, true);
      }
    }
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.node.removeEventListener('keydown', this);
    this._observer?.disconnect();
    this.store.changed.disconnect(this._onChanged, this);
    super.dispose();
  }

  protected onUpdateRequest(msg: Message): void {
    this.render();
  }

  protected onAfterAttach(msg: Message): void {
    this.fit();
  }

  protected onAfterShow(msg: Message): void {
    this.fit();
  }

  /** Give the banner the height of its content (at most 40% of the window) and re-layout. */
  fit(): void {
    if (!this.isAttached || this.isHidden) {
      return;
    }
    const cap = Math.max(96, Math.round(window.innerHeight * 0.4));
    fitToContent(this, this._inner.offsetHeight, cap);
  }

  /** Bring the DOM in line with the store. */
  render(): void {
    const entries = this.store.entries;
    const visible = this._expanded ? entries : entries.slice(0, this._maxVisible);
    const keep = new Set(visible.map(e => e.key));
    for (const [key, cached] of this._nodes) {
      if (!keep.has(key)) {
        cached.node.remove();
        this._nodes.delete(key);
      }
    }
    let previous: HTMLElement | null = null;
    for (const entry of visible) {
      const sig = signature(entry);
      let cached = this._nodes.get(entry.key);
      if (!cached || cached.sig !== sig) {
        const node = renderEntry(entry, this._trans, {
          dismiss: key => this._dismiss(key, false),
          confirm: this._onConfirm
        });
        if (cached) {
          cached.node.replaceWith(node);
        }
        cached = { node, sig };
        this._nodes.set(entry.key, cached);
      }
      const expected: ChildNode | null = previous ? previous.nextSibling : this._list.firstChild;
      if (expected !== cached.node) {
        this._list.insertBefore(cached.node, expected);
      }
      previous = cached.node;
    }
    const hidden = entries.length - visible.length;
    this._more.textContent = this._expanded
      ? this._trans.__('Show fewer')
      : this._trans._n('Show %1 more', 'Show %1 more', hidden);
    this._more.hidden = !this._expanded && hidden <= 0;
    if (this._expanded && entries.length <= this._maxVisible) {
      this._more.hidden = true;
    }
    this._dismissAll.hidden = entries.length < 2;
    this._footer.hidden = this._more.hidden && this._dismissAll.hidden;
    const wasHidden = this.isHidden;
    this.setHidden(entries.length === 0);
    if (!this.isHidden) {
      this.fit();
    } else if (!wasHidden && this.parent) {
      MessageLoop.postMessage(this.parent, Widget.Msg.FitRequest);
    }
  }

  private _dismiss(key: string, fromKeyboard: boolean): void {
    const entries = this.store.entries;
    const index = entries.findIndex(e => e.key === key);
    const hadFocus = fromKeyboard || this.node.contains(document.activeElement);
    this.store.dismiss(key); // emits changed -> render
    if (hadFocus) {
      const next = this.store.entries[Math.min(index, this.store.entries.length - 1)];
      const node = next ? this._nodes.get(next.key)?.node : undefined;
      const button = node?.querySelector<HTMLButtonElement>('.jp-TosGuard-dismiss');
      if (button) {
        button.focus();
      } else {
        this.node.dispatchEvent(new CustomEvent('tos-guard-empty', { bubbles: true }));
      }
    }
  }

  private _onChanged(): void {
    this.render();
  }

  private _trans: TranslationBundle;
  private _maxVisible: number;
  private _expanded = false;
  private _onConfirm?: (entry: IBannerEntry) => void;
  private _inner: HTMLElement;
  private _observer?: ResizeObserver;
  private _list: HTMLElement;
  private _more: HTMLButtonElement;
  private _dismissAll: HTMLButtonElement;
  private _footer: HTMLElement;
  private _nodes = new Map<string, { node: HTMLElement; sig: string }>();
}
