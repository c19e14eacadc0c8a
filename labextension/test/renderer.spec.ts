import {
  createRendererFactory,
  highlightParts,
  isExpired,
  RenderedVerdict,
  renderVerdict,
  RENDERER_RANK
} from '../src/renderer';
import { MIME_TYPE } from '../src/types';
import { payload, trans, XSS } from './helpers';

declare global {
  interface Window {
    __pwned?: number;
  }
}

function mimeModel(data: unknown) {
  return {
    data: { [MIME_TYPE]: data },
    metadata: {},
    trusted: false,
    setData: () => undefined
  } as any;
}

describe('highlightParts', () => {
  const base = payload().rules[0].matches[0];

  it('splits the excerpt around the matched text', () => {
    expect(highlightParts(base)).toEqual([
      'x = 1; !wget https://',
      'github.com/xmrig/xmrig',
      '/releases/x.tar.gz'
    ]);
  });

  it('matches case-insensitively but keeps the original text', () => {
    expect(highlightParts({ ...base, excerpt: '!pip install XMRig', matched: 'xmrig' })).toEqual([
      '!pip install ',
      'XMRig',
      ''
    ]);
  });

  it('does not highlight computed evidence that is not in the line', () => {
    expect(
      highlightParts({ ...base, excerpt: 'exec(b64decode(s))', matched: 'xmrig -o pool' })
    ).toEqual(['exec(b64decode(s))', '', '']);
  });
});

describe('renderVerdict', () => {
  it('shows the headline, rule, severity, message, excerpt and links', () => {
    const node = renderVerdict(payload(), trans);
    expect(node.classList).toContain('jp-TosGuard-action-block');
    expect(node.classList).toContain('jp-TosGuard-severity-high');
    expect(node.getAttribute('role')).toBe('alert');
    expect(node.querySelector('.jp-TosGuard-headline')?.textContent).toBe('This cell was not run');
    expect(node.querySelector('.jp-TosGuard-title')?.textContent).toBe(
      'XMRig cryptocurrency miner'
    );
    expect(node.querySelector('.jp-TosGuard-severity')?.textContent).toBe('high severity');
    expect(node.querySelector('.jp-TosGuard-ruleId')?.textContent).toBe('mining.xmrig');
    expect(node.querySelector('.jp-TosGuard-message')?.textContent).toContain(
      'mining is not allowed'
    );
    expect(node.querySelector('mark.jp-TosGuard-hit')?.textContent).toBe('github.com/xmrig/xmrig');
    expect(node.querySelector('.jp-TosGuard-where')?.textContent).toBe('Line 2:');
    const links = [...node.querySelectorAll('a')];
    expect(links.map(a => a.getAttribute('href'))).toEqual([
      'https://example.org/terms',
      'https://example.org/appeal'
    ]);
    links.forEach(a => expect(a.getAttribute('rel')).toContain('noopener'));
  });

  it('shows a line two matchers hit once, and at most three lines', () => {
    const p = payload();
    const m = p.rules[0].matches[0];
    p.rules[0].matches = [
      m,
      { ...m, matched: 'xmrig', matcher: 'regex' },
      { ...m, line: 3 },
      { ...m, line: 4 },
      { ...m, line: 5 }
    ];
    const node = renderVerdict(p, trans);
    const where = [...node.querySelectorAll('.jp-TosGuard-where')].map(n => n.textContent);
    expect(where).toEqual(['Line 2:', 'Line 3:', 'Line 4:']);
  });

  it('is a polite status for a warning', () => {
    const node = renderVerdict(payload({ action: 'warn' }), trans);
    expect(node.getAttribute('role')).toBe('status');
    expect(node.querySelector('.jp-TosGuard-badge')?.textContent).toBe('Warning');
    expect(node.querySelector('.jp-TosGuard-headline')?.textContent).toContain('the cell ran');
  });

  it('renders an excerpt holding HTML as text, never as markup (XSS)', () => {
    const p = payload();
    p.rules[0].title = '<b>bold</b>';
    p.rules[0].message = '<img src=x onerror="window.__pwned=3">';
    p.rules[0].matches[0].excerpt = XSS;
    p.rules[0].matches[0].matched = '<img src=x onerror="window.__pwned=1">';
    const node = renderVerdict(p, trans);
    document.body.appendChild(node);
    expect(node.querySelectorAll('img, script, b')).toHaveLength(0);
    expect(node.querySelector('.jp-TosGuard-excerpt')?.textContent).toBe(XSS);
    expect(node.querySelector('mark')?.textContent).toBe('<img src=x onerror="window.__pwned=1">');
    expect(node.querySelector('.jp-TosGuard-title')?.textContent).toBe('<b>bold</b>');
    expect(node.innerHTML).toContain('&lt;img src=x');
    expect(window.__pwned).toBeUndefined();
    node.remove();
  });

  it('shows the contact when there is no appeal link', () => {
    const node = renderVerdict(payload({ appeal_url: null, contact: 'help@example.org' }), trans);
    expect(node.querySelector('.jp-TosGuard-contact')?.textContent).toBe(
      'Questions or exemptions: help@example.org'
    );
  });

  it('says why a fail-closed block happened', () => {
    const node = renderVerdict(
      payload({ rules: [], reason: 'the check could not be completed' }),
      trans
    );
    expect(node.textContent).toContain('the check could not be completed');
  });

  it('lists computed evidence with how it was found', () => {
    const p = payload();
    p.rules[0].matches[0] = {
      ...p.rules[0].matches[0],
      excerpt: 'exec(b64decode(s))',
      matched: 'xmrig',
      via: ['base64']
    };
    const node = renderVerdict(p, trans);
    expect(node.querySelector('mark')).toBeNull();
    expect(node.querySelector('.jp-TosGuard-matched')?.textContent).toBe('xmrig');
    expect(node.querySelector('.jp-TosGuard-via')?.textContent).toBe('(via base64)');
  });
});

describe('confirm', () => {
  const confirmPayload = (expires: string | null = '2999-01-01T00:00:00Z') =>
    payload({ action: 'confirm', confirm: { token: 'tok-1', expires } });

  it('offers "run anyway" and hands over the token', async () => {
    const onConfirm = jest.fn().mockResolvedValue(true);
    const node = renderVerdict(confirmPayload(), trans, { onConfirm });
    const button = node.querySelector<HTMLButtonElement>('.jp-TosGuard-runAnyway')!;
    expect(button.textContent).toBe('I understand — run anyway');
    button.click();
    expect(onConfirm).toHaveBeenCalledWith('tok-1', button);
    expect(button.disabled).toBe(true);
    await Promise.resolve();
    await Promise.resolve();
    expect(node.querySelector('.jp-TosGuard-confirmStatus')?.textContent).toBe(
      'Acknowledged; the cell is running.'
    );
  });

  it('re-enables the button when the cell was not found', async () => {
    const onConfirm = jest.fn().mockResolvedValue(false);
    const node = renderVerdict(confirmPayload(), trans, { onConfirm });
    const button = node.querySelector<HTMLButtonElement>('.jp-TosGuard-runAnyway')!;
    button.click();
    await Promise.resolve();
    await Promise.resolve();
    expect(button.disabled).toBe(false);
    expect(node.textContent).toContain('was not found');
  });

  it('says an expired acknowledgement must be asked for again', () => {
    const node = renderVerdict(confirmPayload('2000-01-01T00:00:00Z'), trans, {
      onConfirm: jest.fn()
    });
    expect(node.querySelector('.jp-TosGuard-runAnyway')).toBeNull();
    expect(node.querySelector('.jp-TosGuard-expired')?.textContent).toContain('expired');
    expect(isExpired(null)).toBe(false);
    expect(isExpired('not a date')).toBe(false);
  });

  it('has no button without a handler (e.g. no notebook on this page)', () => {
    const node = renderVerdict(confirmPayload(), trans);
    expect(node.querySelector('button')).toBeNull();
  });
});

describe('the renderer factory', () => {
  it('is safe, ranks ahead of text/html and renders our MIME type', async () => {
    const factory = createRendererFactory(trans);
    expect(factory.safe).toBe(true);
    expect(factory.mimeTypes).toEqual([MIME_TYPE]);
    expect(RENDERER_RANK).toBeLessThan(50);
    expect(factory.defaultRank).toBe(RENDERER_RANK);
    const renderer = factory.createRenderer({
      mimeType: MIME_TYPE,
      sanitizer: {} as any,
      resolver: null,
      linkHandler: null,
      latexTypesetter: null
    }) as RenderedVerdict;
    await renderer.renderModel(mimeModel(payload({ action: 'warn' })));
    expect(renderer.node.querySelector('.jp-TosGuard-notice')?.getAttribute('data-action')).toBe(
      'warn'
    );
    await renderer.renderModel(mimeModel({ nonsense: true }));
    expect(renderer.node.textContent).toContain('unreadable');
    expect(renderer.node.querySelectorAll('.jp-TosGuard-notice')).toHaveLength(1);
  });
});
