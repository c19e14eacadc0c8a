/**
 * The banner at the top of a notebook: what the guard decided about this notebook's cells.
 *
 * It stays small: one line per entry (rule set and action; repeats collapse into a count),
 * newest first, with "Details" to read the reason, the matched line and the links. Past one
 * entry it collapses to a summary line ("2 blocked, 1 warning — Show") that keeps "Dismiss
 * all" in reach, and it never takes more than `maxHeight` of the notebook's height: the entries
 * scroll below the summary line. The full reason is the inline notice's, in the cell.
 * Block and confirm entries are announced as alerts, warnings politely. Entries are rebuilt
 * only when they change, so a screen reader does not hear old alerts again whenever a new one
 * arrives.
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

/** The summary line's counts: "2 blocked, 1 warning". */
export function countsSummary(entries: readonly IBannerEntry[], trans: TranslationBundle): string {
  const count = (action: string) => entries.filter(e => e.action === action).length;
  const parts: string[] = [];
  const blocked = count('block');
  const confirm = count('confirm');
  const warned = count('warn');
  if (blocked) {
    parts.push(trans._n('%1 blocked', '%1 blocked', blocked));
  }
  if (confirm) {
    parts.push(trans._n('%1 needs acknowledgement', '%1 need acknowledgement', confirm));
  }
  if (warned) {
    parts.push(trans._n('%1 warning', '%1 warnings', warned));
  }
  return parts.join(', ');
}

export interface IEntryView {
  /** its details (reason, matched line, links, "run anyway") are shown */
  expanded: boolean;
  toggle(key: string): void;
}

/** One banner entry: one line, and its details when expanded. */
export function renderEntry(
  entry: IBannerEntry,
  trans: TranslationBundle,
  handlers: IBannerHandlers,
  view: IEntryView = { expanded: false, toggle: () => undefined }
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
  const detailsId = `jp-TosGuard-details-${++detailsCount}`;
  const toggle = h(
    'button',
    {
      type: 'button',
      class: 'jp-TosGuard-detailsToggle',
      'aria-expanded': String(view.expanded),
      'aria-controls': detailsId
    },
    view.expanded ? trans.__('Hide details') : trans.__('Details')
  );
  toggle.addEventListener('click', () => view.toggle(entry.key));
  const links: Node[] = [];
  if (payload.info_url) {
    links.push(externalLink(payload.info_url, trans.__('Terms of use')));
  }
  if (payload.appeal_url) {
    links.push(externalLink(payload.appeal_url, trans.__('Ask for an exemption')));
  }
  const details = h(
    'div',
    { class: 'jp-TosGuard-entryDetails', id: detailsId },
    first?.message ? h('div', { class: 'jp-TosGuard-message' }, first.message) : null,
    !first && payload.reason ? h('div', { class: 'jp-TosGuard-message' }, payload.reason) : null,
    match ? excerptNode(match, trans) : null,
    ackNode(entry, trans, handlers),
    links.length
      ? h('div', { class: 'jp-TosGuard-links' }, ...links.flatMap((l, i) => (i ? [' · ', l] : [l])))
      : null
  );
  details.hidden = !view.expanded;
  return h(
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
      h('span', { class: 'jp-TosGuard-title', title: summary }, summary),
      countText
        ? h(
            'span',
            { class: 'jp-TosGuard-count', title: countText },
            // words, not "×2": next to the dismiss button a multiplication sign reads as a close button
            `(${countText})`
          )
        : null,
      h('span', { class: 'jp-TosGuard-spacer' }),
      toggle,
      dismiss
    ),
    details
  );
}

let detailsCount = 0;

/** Pixels around one line: the entry's padding and margin, the banner's padding and border. */
const LINE_FRAME = 16;

function signature(entry: IBannerEntry, expanded: boolean): string {
  return `${entry.seq}|${entry.count}|${entry.ack}|${expanded}`;
}

export interface IVerdictBannerOptions {
  store: VerdictStore;
  trans: TranslationBundle;
  /** the most of the notebook's height the banner takes (default 0.15) */
  maxHeight?: number;
  /** the element whose height `maxHeight` is a fraction of (default: the notebook panel) */
  container?: () => HTMLElement | null;
  onConfirm?: (entry: IBannerEntry) => void;
}

/** The banner widget; hidden while it has nothing to say. */
export class VerdictBanner extends Widget {
  constructor(options: IVerdictBannerOptions) {
    super();
    this.store = options.store;
    this._trans = options.trans;
    this._maxHeight = options.maxHeight ?? 0.15;
    this._container =
      options.container ?? (() => this.node.closest<HTMLElement>('.jp-NotebookPanel'));
    this._onConfirm = options.onConfirm;
    this.addClass('jp-TosGuard-banner');
    this.node.setAttribute('role', 'region');
    this.node.setAttribute('aria-label', this._trans.__('Terms of use notices'));
    this._counts = h('span', { class: 'jp-TosGuard-counts', 'aria-live': 'polite' });
    this._toggle = h('button', { type: 'button', class: 'jp-TosGuard-showAll' });
    this._toggle.addEventListener('click', () => {
      this._open = !this._open;
      this.render();
    });
    this._dismissAll = h(
      'button',
      { type: 'button', class: 'jp-TosGuard-dismissAll' },
      this._trans.__('Dismiss all')
    );
    this._dismissAll.addEventListener('click', () => this.store.dismissAll());
    this._summary = h(
      'div',
      { class: 'jp-TosGuard-summary' },
      this._counts,
      h('span', { class: 'jp-TosGuard-summaryDash' }, ' — '),
      this._toggle,
      h('span', { class: 'jp-TosGuard-spacer' }),
      this._dismissAll
    );
    this._entries = h('div', { class: 'jp-TosGuard-entries', 'aria-live': 'polite' });
    this._list = h('div', { class: 'jp-TosGuard-list' }, this._entries);
    this.node.append(this._summary, this._list);
    this.node.addEventListener('keydown', this);
    // The notebook's content header is a lumino BoxPanel: it sizes children by their
    // min-height, not by their content. Follow the content's natural height, and the
    // notebook's, which the cap is a fraction of.
    if (typeof ResizeObserver !== 'undefined') {
      this._observer = new ResizeObserver(() => this.fit());
      this._observer.observe(this._summary);
      this._observer.observe(this._entries);
    }
    this.store.changed.connect(this._onChanged, this);
    this.render();
  }

  readonly store: VerdictStore;

  /** The most of the notebook's height the banner takes, as a fraction. */
  get maxHeight(): number {
    return this._maxHeight;
  }

  set maxHeight(value: number) {
    this._maxHeight = value;
    this.fit();
  }

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
    const container = this._container();
    if (container && this._observer && container !== this._observed) {
      this._observer.observe(container);
      this._observed = container;
    }
    this.fit();
  }

  protected onAfterShow(msg: Message): void {
    this.fit();
  }

  /** The tallest the banner may be: `maxHeight` of the notebook, but never less than a line. */
  heightCap(): number {
    const container = this._container();
    const total = container?.clientHeight || window.innerHeight;
    // one line: the summary, or the first entry's own line, details aside; plus the paddings
    const head = this._entries.querySelector<HTMLElement>('.jp-TosGuard-entryHead');
    const line = this._summary.hidden ? (head?.offsetHeight ?? 0) : this._summary.offsetHeight;
    return Math.max(Math.floor(total * this._maxHeight), line + LINE_FRAME);
  }

  /** Give the banner the height of its content, at most `heightCap()`, and re-layout. */
  fit(): void {
    if (!this.isAttached || this.isHidden) {
      return;
    }
    const summary = this._summary.hidden ? 0 : this._summary.offsetHeight;
    const list = this._list.hidden ? 0 : this._entries.offsetHeight;
    fitToContent(this, summary + list, this.heightCap());
  }

  /** Bring the DOM in line with the store. */
  render(): void {
    const entries = this.store.entries;
    const several = entries.length > 1;
    if (!several) {
      this._open = false; // the next time there are several, start collapsed again
    }
    const visible = !several || this._open ? entries : [];
    const keep = new Set(visible.map(e => e.key));
    for (const [key, cached] of this._nodes) {
      if (!keep.has(key)) {
        cached.node.remove();
        this._nodes.delete(key);
      }
    }
    for (const key of [...this._expanded]) {
      if (!this.store.get(key)) {
        this._expanded.delete(key);
      }
    }
    let previous: HTMLElement | null = null;
    for (const entry of visible) {
      const expanded = this._expanded.has(entry.key);
      const sig = signature(entry, expanded);
      let cached = this._nodes.get(entry.key);
      if (!cached || cached.sig !== sig) {
        const node = renderEntry(
          entry,
          this._trans,
          { dismiss: key => this._dismiss(key, false), confirm: this._onConfirm },
          { expanded, toggle: key => this._toggleDetails(key) }
        );
        if (cached) {
          cached.node.replaceWith(node);
        }
        cached = { node, sig };
        this._nodes.set(entry.key, cached);
      }
      const expected: ChildNode | null = previous ? previous.nextSibling : this._entries.firstChild;
      if (expected !== cached.node) {
        this._entries.insertBefore(cached.node, expected);
      }
      previous = cached.node;
    }
    this._summary.hidden = !several;
    this._counts.textContent = several ? countsSummary(entries, this._trans) : '';
    this._toggle.textContent = this._open ? this._trans.__('Hide') : this._trans.__('Show');
    this._toggle.setAttribute('aria-expanded', String(this._open));
    this._list.hidden = several && !this._open;
    const wasHidden = this.isHidden;
    this.setHidden(entries.length === 0);
    if (!this.isHidden) {
      this.fit();
    } else if (!wasHidden && this.parent) {
      MessageLoop.postMessage(this.parent, Widget.Msg.FitRequest);
    }
  }

  private _toggleDetails(key: string): void {
    if (!this._expanded.delete(key)) {
      this._expanded.add(key);
    }
    this.render();
    this._nodes
      .get(key)
      ?.node.querySelector<HTMLButtonElement>('.jp-TosGuard-detailsToggle')
      ?.focus();
  }

  private _dismiss(key: string, fromKeyboard: boolean): void {
    const entries = this.store.entries;
    const index = entries.findIndex(e => e.key === key);
    const hadFocus = fromKeyboard || this.node.contains(document.activeElement);
    this.store.dismiss(key); // emits changed -> render
    if (hadFocus) {
      const next = this.store.entries[Math.min(index, this.store.entries.length - 1)];
      const node = next ? this._nodes.get(next.key)?.node : undefined;
      const button =
        node?.querySelector<HTMLButtonElement>('.jp-TosGuard-dismiss') ??
        (this._summary.hidden ? null : this._toggle);
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
  private _maxHeight: number;
  private _container: () => HTMLElement | null;
  private _observed: HTMLElement | null = null;
  private _open = false;
  private _expanded = new Set<string>();
  private _onConfirm?: (entry: IBannerEntry) => void;
  private _observer?: ResizeObserver;
  private _summary: HTMLElement;
  private _counts: HTMLElement;
  private _toggle: HTMLButtonElement;
  private _dismissAll: HTMLButtonElement;
  private _entries: HTMLElement;
  private _list: HTMLElement;
  private _nodes = new Map<string, { node: HTMLElement; sig: string }>();
}
