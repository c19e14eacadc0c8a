import { Widget } from '@lumino/widgets';

import { entrySummary, VerdictBanner } from '../src/banner';
import { IBannerEntry, VerdictStore } from '../src/model/verdicts';
import { payload, record, trans, XSS } from './helpers';

function setup(options: { maxVisible?: number; onConfirm?: (e: IBannerEntry) => void } = {}) {
  const store = new VerdictStore();
  const banner = new VerdictBanner({ store, trans, ...options });
  Widget.attach(banner, document.body);
  return { store, banner };
}

const entries = (banner: VerdictBanner) => [
  ...banner.node.querySelectorAll<HTMLElement>('.jp-TosGuard-entry')
];

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

  it('never floods: at most maxVisible entries, the rest behind "Show n more"', () => {
    const { store, banner } = setup({ maxVisible: 3 });
    for (let i = 0; i < 10; i++) {
      store.add(record(payload({ ruleId: `r${i}` })));
    }
    expect(entries(banner).map(e => e.dataset.key)).toEqual(['block|r9', 'block|r8', 'block|r7']);
    const more = banner.node.querySelector<HTMLButtonElement>('.jp-TosGuard-more')!;
    expect(more.hidden).toBe(false);
    expect(more.textContent).toBe('Show 7 more');
    more.click();
    expect(entries(banner)).toHaveLength(10);
    expect(more.textContent).toBe('Show fewer');
    more.click();
    expect(entries(banner)).toHaveLength(3);
  });

  it('dismisses an entry with its button, and all with "Dismiss all"', () => {
    const { store, banner } = setup();
    store.add(record(payload({ ruleId: 'a' })));
    store.add(record(payload({ ruleId: 'b' })));
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
    const before = banner.entryNode('block|a');
    store.add(record(payload({ ruleId: 'b' })));
    expect(banner.entryNode('block|a')).toBe(before);
    store.add(record(payload({ ruleId: 'a' })));
    expect(banner.entryNode('block|a')).not.toBe(before);
    expect(entries(banner).map(e => e.dataset.key)).toEqual(['block|a', 'block|b']);
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
