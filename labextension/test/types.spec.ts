import { parseRecord, parseVerdict, safeUrl } from '../src/types';
import { payload } from './helpers';

describe('parseVerdict', () => {
  it('keeps a well-formed payload', () => {
    const p = parseVerdict(payload());
    expect(p?.action).toBe('block');
    expect(p?.rules[0].matches[0].matched).toBe('github.com/xmrig/xmrig');
    expect(p?.info_url).toBe('https://example.org/terms');
  });

  it('rejects what is not a verdict', () => {
    expect(parseVerdict(null)).toBeNull();
    expect(parseVerdict('block')).toBeNull();
    expect(parseVerdict({ action: 'explode', rules: [] })).toBeNull();
  });

  it('drops links that are not http(s) or mailto', () => {
    const p = parseVerdict({
      ...payload(),
      info_url: 'javascript:alert(1)',
      appeal_url: ' data:text/html,x'
    });
    expect(p?.info_url).toBeNull();
    expect(p?.appeal_url).toBeNull();
    expect(safeUrl('mailto:help@example.org')).toBe('mailto:help@example.org');
    expect(safeUrl('HTTPS://example.org')).toBe('HTTPS://example.org');
    expect(safeUrl('//evil.example')).toBeNull();
  });

  it('coerces wrong field types instead of trusting them', () => {
    const p = parseVerdict({
      action: 'warn',
      rules: [{ id: 'r', title: 5, matches: [{ line: '3', excerpt: {}, via: 'x' }, 'junk'] }, null]
    });
    expect(p?.rules).toHaveLength(1);
    expect(p?.rules[0].title).toBe('r');
    expect(p?.rules[0].matches).toEqual([
      expect.objectContaining({ line: 0, excerpt: '', via: [] })
    ]);
  });

  it('reads the confirm token', () => {
    const p = parseVerdict({
      ...payload({ action: 'confirm' }),
      confirm: { token: 'abc', expires: '2030-01-01T00:00:00Z' }
    });
    expect(p?.confirm).toEqual({ token: 'abc', expires: '2030-01-01T00:00:00Z' });
    expect(parseVerdict({ ...payload(), confirm: { token: 7 } })?.confirm).toBeNull();
  });
});

describe('parseRecord', () => {
  it('reads a decision event or a recent-verdicts item', () => {
    const r = parseRecord({
      schema_id: 'x',
      event: 'decision',
      time: '2026-01-01T00:00:00Z',
      kernel_id: 'k',
      msg_id: 'm',
      notebook_path: 'a.ipynb',
      verdict: payload({ action: 'warn' })
    });
    expect(r).toEqual(
      expect.objectContaining({ kernel_id: 'k', msg_id: 'm', notebook_path: 'a.ipynb' })
    );
    expect(r?.verdict.action).toBe('warn');
  });

  it('ignores events without a verdict (log decisions, policy reloads)', () => {
    expect(parseRecord({ event: 'decision', action: 'log', verdict: null })).toBeNull();
    expect(parseRecord({ event: 'policy_loaded' })).toBeNull();
  });
});
