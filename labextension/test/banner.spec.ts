import { Widget } from '@lumino/widgets';

import { countsSummary, entrySummary, VerdictBanner } from '../src/banner';
import { IBannerEntry, VerdictStore } from '../src/model/verdicts';
import { payload, record, trans, XSS } from './helpers';

function setup(
  options: {
    onConfirm?: (e: IBannerEntry) => void;
    maxHeight?: number;
    container?: () => HTMLElement | null;
  } = {}
) {
  const store = new VerdictStore();
  const banner = new VerdictBanner({ store, trans, ...options });
  Widget.attach(banner, document.body);
  return { store, banner };
}

const entries = (banner: VerdictBanner) => [
  ...banner.node.querySelectorAll<HTMLElement>('.jp-TosGuard-entry')
];

const summary = (banner: VerdictBanner) =>
  banner.node.querySelector<HTMLElement>('.jp-TosGuard-summary')!;

/** Open the collapsed list of several entries. */
function showAll(banner: VerdictBanner): void {
  const toggle = banner.node.querySelector<HTMLButtonElement>('.jp-TosGuard-showAll')!;
  expect(toggle.textContent).toBe('Show');
  toggle.click();
}

afterEach(() => {
  document.body.textContent = '';
});

describe('VerdictBanner', () => {
  it('is hidden while there is nothing to show', () => {
    const { banner } = setup();
    expect(banner.isHidden).toBe(true);
    expect(banner.node.getAttribute('role')).toBe('region');
    expect(banner.node.getAttribute('aria-label')).toBe('Terms of use notices');
  });

  it('shows a block as an alert and a warning as a status', () => {
    const { store, banner } = setup();
    store.add(record(payload({ ruleId: 'a' })));
    store.add(record(payload({ ruleId: 'b', action: 'warn' })));
    expect(banner.isHidden).toBe(false);
    showAll(banner);
    const [warn, block] = entries(banner);
    expect(warn.getAttribute('role')).toBe('status');
    expect(block.getAttribute('role')).toBe('alert');
    expect(block.querySelector('.jp-TosGuard-badge')?.textContent).toBe('Blocked');
    expect(block.querySelector('.jp-TosGuard-title')?.textContent).toBe(
      'XMRig cryptocurrency miner'
    );
    expect(block.querySelector('mark')?.textContent).toBe('github.com/xmrig/xmrig');
    expect(block.querySelectorAll('a')).toHaveLength(2);
    expect(banner.node.querySelector('.jp-TosGuard-entries')?.getAttribute('aria-live')).toBe(
      'polite'
    );
    // the summary line is announced too: while collapsed, it is all there is to hear
    expect(banner.node.querySelector('.jp-TosGuard-counts')?.getAttribute('aria-live')).toBe(
      'polite'
    );
  });

  it('collapses repeats into one entry with a count', () => {
    const { store, banner } = setup();
    for (let i = 0; i < 5; i++) {
      store.add(record(payload()));
    }
    expect(entries(banner)).toHaveLength(1);
    const count = banner.node.querySelector('.jp-TosGuard-count')!;
    expect(count.textContent).toBe('(5 times)');
    expect(count.getAttribute('title')).toBe('5 times');
  });

  it('shows one entry as one line, its reason behind "Details"', () => {
    const { store, banner } = setup();
    store.add(record(payload()));
    expect(summary(banner).hidden).toBe(true); // one entry needs no summary
    const [entry] = entries(banner);
    const details = entry.querySelector<HTMLElement>('.jp-TosGuard-entryDetails')!;
    expect(details.hidden).toBe(true);
    expect(details.textContent).toContain('Cryptocurrency mining is not allowed');
    const head = entry.querySelector('.jp-TosGuard-entryHead')!;
    expect(head.textContent).not.toContain('Cryptocurrency mining is not allowed');
    const toggle = entry.querySelector<HTMLButtonElement>('.jp-TosGuard-detailsToggle')!;
    expect(toggle.textContent).toBe('Details');
    expect(toggle.getAttribute('aria-expanded')).toBe('false');
    expect(toggle.getAttribute('aria-controls')).toBe(details.id);
    toggle.click();
    const opened = entries(banner)[0];
    expect(opened.querySelector<HTMLElement>('.jp-TosGuard-entryDetails')!.hidden).toBe(false);
    const again = opened.querySelector<HTMLButtonElement>('.jp-TosGuard-detailsToggle')!;
    expect(again.textContent).toBe('Hide details');
    expect(again.getAttribute('aria-expanded')).toBe('true');
    expect(document.activeElement).toBe(again);
    // a repeat keeps the details open
    store.add(record(payload()));
    expect(entries(banner)[0].querySelector<HTMLElement>('.jp-TosGuard-entryDetails')!.hidden).toBe(
      false
    );
    again.click();
    expect(entries(banner)[0].querySelector<HTMLElement>('.jp-TosGuard-entryDetails')!.hidden).toBe(
      true
    );
  });

  it('collapses several entries to a summary line with "Dismiss all"', () => {
    const { store, banner } = setup();
    store.add(record(payload({ ruleId: 'a' })));
    store.add(record(payload({ ruleId: 'b' })));
    store.add(record(payload({ ruleId: 'c', action: 'warn' })));
    expect(summary(banner).hidden).toBe(false);
    expect(summary(banner).textContent).toBe('2 blocked, 1 warning — ShowDismiss all');
    expect(entries(banner)).toHaveLength(0);
    expect(banner.node.querySelector<HTMLElement>('.jp-TosGuard-list')!.hidden).toBe(true);
    showAll(banner);
    expect(entries(banner).map(e => e.dataset.key)).toEqual(['warn|c', 'block|b', 'block|a']);
    const toggle = banner.node.querySelector<HTMLButtonElement>('.jp-TosGuard-showAll')!;
    expect(toggle.textContent).toBe('Hide');
    expect(toggle.getAttribute('aria-expanded')).toBe('true');
    // a new verdict updates the counts and keeps the list open
    store.add(record(payload({ ruleId: 'd', action: 'confirm' })));
    expect(banner.node.querySelector('.jp-TosGuard-counts')?.textContent).toBe(
      '2 blocked, 1 needs acknowledgement, 1 warning'
    );
    expect(entries(banner)).toHaveLength(4);
    toggle.click();
    expect(entries(banner)).toHaveLength(0);
    // down to one entry: that entry's line, no summary; several again: collapsed again
    banner.node.querySelector<HTMLButtonElement>('.jp-TosGuard-dismissAll')!.click();
    store.add(record(payload({ ruleId: 'e' })));
    expect(summary(banner).hidden).toBe(true);
    expect(entries(banner)).toHaveLength(1);
  });

  it('counts by action, in words', () => {
    const e = (action: string) => ({ action }) as IBannerEntry;
    expect(countsSummary([e('block')], trans)).toBe('1 blocked');
    expect(countsSummary([e('warn'), e('warn'), e('confirm'), e('confirm')], trans)).toBe(
      '2 need acknowledgement, 2 warnings'
    );
  });

  describe('its height', () => {
    // jsdom lays nothing out: give the parts the heights a browser would
    const heights: Record<string, number> = {
      'jp-TosGuard-entries': 600,
      'jp-TosGuard-summary': 24,
      'jp-TosGuard-entryHead': 20
    };
    let restore: PropertyDescriptor | undefined;
    beforeAll(() => {
      restore = Object.getOwnPropertyDescriptor(HTMLElement.prototype, 'offsetHeight');
      Object.defineProperty(HTMLElement.prototype, 'offsetHeight', {
        configurable: true,
        get(this: HTMLElement) {
          const cls = Object.keys(heights).find(c => this.classList.contains(c));
          return cls ? heights[cls] : 0;
        }
      });
    });
    afterAll(() => {
      if (restore) {
        Object.defineProperty(HTMLElement.prototype, 'offsetHeight', restore);
      }
    });

    function notebook(height: number): HTMLElement {
      const node = document.createElement('div');
      Object.defineProperty(node, 'clientHeight', { configurable: true, value: height });
      return node;
    }

    it('is its content, at most maxHeight of the notebook, never less than a line', () => {
      let panel = notebook(1000);
      const { store, banner } = setup({ container: () => panel });
      store.add(record(payload({ ruleId: 'a' })));
      store.add(record(payload({ ruleId: 'b' })));
      // collapsed: the summary line only
      expect(banner.node.style.minHeight).toBe('24px');
      showAll(banner);
      expect(banner.node.style.minHeight).toBe('150px'); // 15 % of 1000, not 624
      banner.maxHeight = 0.3; // the setting changed
      expect(banner.node.style.minHeight).toBe('300px');
      panel = notebook(100); // a small window: 15 px would hide the summary
      banner.maxHeight = 0.15;
      expect(banner.node.style.minHeight).toBe('40px');
      expect(banner.heightCap()).toBe(24 + 16);
    });
  });

  it('dismisses an entry with its button, and all with "Dismiss all"', () => {
    const { store, banner } = setup();
    store.add(record(payload({ ruleId: 'a' })));
    store.add(record(payload({ ruleId: 'b' })));
    showAll(banner);
    const first = entries(banner)[0];
    const dismiss = first.querySelector<HTMLButtonElement>('.jp-TosGuard-dismiss')!;
    expect(dismiss.getAttribute('aria-label')).toBe('Dismiss: XMRig cryptocurrency miner');
    dismiss.click();
    expect(entries(banner).map(e => e.dataset.key)).toEqual(['block|a']);
    store.add(record(payload({ ruleId: 'c' })));
    banner.node.querySelector<HTMLButtonElement>('.jp-TosGuard-dismissAll')!.click();
    expect(entries(banner)).toHaveLength(0);
    expect(banner.isHidden).toBe(true);
  });

  it('dismisses the focused entry with Escape and moves focus on', () => {
    const { store, banner } = setup();
    store.add(record(payload({ ruleId: 'a' })));
    store.add(record(payload({ ruleId: 'b' })));
    showAll(banner);
    const button = entries(banner)[0].querySelector<HTMLButtonElement>('.jp-TosGuard-dismiss')!;
    button.focus();
    const event = new KeyboardEvent('keydown', { key: 'Escape', bubbles: true, cancelable: true });
    button.dispatchEvent(event);
    expect(event.defaultPrevented).toBe(true);
    expect(entries(banner).map(e => e.dataset.key)).toEqual(['block|a']);
    expect(document.activeElement).toBe(entries(banner)[0].querySelector('.jp-TosGuard-dismiss'));
    const empty = jest.fn();
    banner.node.addEventListener('tos-guard-empty', empty);
    (document.activeElement as HTMLElement).dispatchEvent(
      new KeyboardEvent('keydown', { key: 'Escape', bubbles: true })
    );
    expect(banner.isHidden).toBe(true);
    expect(empty).toHaveBeenCalled();
  });

  it('does not rebuild (and re-announce) entries that did not change', () => {
    const { store, banner } = setup();
    store.add(record(payload({ ruleId: 'a' })));
    store.add(record(payload({ ruleId: 'b' })));
    showAll(banner);
    const before = banner.entryNode('block|a');
    store.add(record(payload({ ruleId: 'c' })));
    expect(banner.entryNode('block|a')).toBe(before);
    store.add(record(payload({ ruleId: 'a' })));
    expect(banner.entryNode('block|a')).not.toBe(before);
    expect(entries(banner).map(e => e.dataset.key)).toEqual(['block|a', 'block|c', 'block|b']);
  });

  it('renders whatever the student wrote as text (XSS)', () => {
    const { store, banner } = setup();
    const p = payload();
    p.rules[0].title = '<img src=x onerror="window.__pwned=5">';
    p.rules[0].matches[0].excerpt = XSS;
    p.rules[0].matches[0].matched = 'xmrig';
    store.add(record(p));
    expect(banner.node.querySelectorAll('img, script')).toHaveLength(0);
    expect(banner.node.querySelector('.jp-TosGuard-excerpt')?.textContent).toBe(XSS);
    expect(banner.node.querySelector('.jp-TosGuard-title')?.textContent).toBe(p.rules[0].title);
    expect((window as any).__pwned).toBeUndefined();
  });

  it('offers "run anyway" for a confirm entry and follows its state', () => {
    const onConfirm = jest.fn();
    const { store, banner } = setup({ onConfirm });
    store.add(
      record(
        payload({ action: 'confirm', confirm: { token: 'tok', expires: '2999-01-01T00:00:00Z' } })
      )
    );
    const button = banner.node.querySelector<HTMLButtonElement>('.jp-TosGuard-runAnyway')!;
    expect(button.textContent).toBe('I understand — run anyway');
    button.click();
    expect(onConfirm).toHaveBeenCalledWith(expect.objectContaining({ action: 'confirm' }));
    const key = store.entries[0].key;
    store.setAck(key, 'running');
    expect(banner.node.querySelector('.jp-TosGuard-runAnyway')).toBeNull();
    expect(banner.node.textContent).toContain('Running the cell');
    expect(banner.node.querySelector('.jp-TosGuard-badge')!.textContent).toBe(
      'Needs acknowledgement'
    );
    store.setAck(key, 'done');
    expect(banner.node.textContent).toContain('Acknowledged: the cell ran.');
    // the badge no longer asks for what was given
    expect(banner.node.querySelector('.jp-TosGuard-badge')!.textContent).toBe('Acknowledged');
  });

  it('says when a confirm token has expired', () => {
    const { store, banner } = setup({ onConfirm: jest.fn() });
    store.add(
      record(
        payload({ action: 'confirm', confirm: { token: 'tok', expires: '2001-01-01T00:00:00Z' } })
      )
    );
    expect(banner.node.querySelector('.jp-TosGuard-runAnyway')).toBeNull();
    expect(banner.node.textContent).toContain('Expired');
  });

  it('summarises several rules', () => {
    const p = payload();
    p.rules.push({ ...p.rules[0], id: 'other', title: 'Other' });
    const entry = { payload: p } as IBannerEntry;
    expect(entrySummary(entry, trans)).toBe('XMRig cryptocurrency miner (and 1 more rule)');
  });

  it('stops listening when disposed', () => {
    const { store, banner } = setup();
    banner.dispose();
    expect(() => store.add(record(payload()))).not.toThrow();
  });
});
