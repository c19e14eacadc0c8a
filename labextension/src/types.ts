/**
 * The server's contracts, as TypeScript: the MIME payload of a verdict, the decision event,
 * the recent-verdicts and policy-summary REST answers. Everything that arrives from the
 * network passes through `parseVerdict` / `parseRecord` first, which keep only the fields
 * we know, coerce them to their types and drop links with schemes other than http(s)/mailto.
 */

export const MIME_TYPE = 'application/vnd.jupyter.tos-guard+json';
export const EVENT_SCHEMA_ID = 'https://events.jupyter-tos-guard.org/decision/v1';
/** execute_request metadata key the server reads the acknowledgement from. */
export const METADATA_KEY = 'jupyter_tos_guard';

export type Action = 'allow' | 'log' | 'warn' | 'confirm' | 'block';
export type Severity = 'low' | 'medium' | 'high' | 'critical';

export interface IMatch {
  line: number;
  column: number;
  end_line: number;
  end_column: number;
  exact: boolean;
  excerpt: string;
  matched: string;
  matcher: string;
  via: string[];
}

export interface IRuleHit {
  id: string;
  title: string;
  category: string;
  severity: Severity | string;
  action: Action | string;
  message: string;
  matches: IMatch[];
}

export interface IConfirm {
  token: string;
  expires: string | null;
}

export interface IVerdictPayload {
  version: number;
  action: Action;
  mode: string;
  policy: string;
  rules: IRuleHit[];
  info_url: string | null;
  appeal_url: string | null;
  contact: string | null;
  reason?: string | null;
  confirm?: IConfirm | null;
}

/** One verdict as the server remembers it (GET verdicts) or announces it (event). */
export interface IVerdictRecord {
  time: string | null;
  kernel_id: string | null;
  msg_id: string | null;
  notebook_path: string | null;
  verdict: IVerdictPayload;
}

export interface IPolicyRule {
  id: string;
  title: string;
  severity: string;
  action: string;
  message: string;
  private?: boolean;
  references?: string[];
}

export interface IPolicySummary {
  name: string;
  mode: string;
  info_url: string | null;
  appeal_url: string | null;
  contact: string | null;
  rule_count: number;
  categories: { name: string; rules: IPolicyRule[] }[];
  policy_error?: string | null;
}

const ACTIONS: Action[] = ['allow', 'log', 'warn', 'confirm', 'block'];

function str(value: unknown, fallback = ''): string {
  return typeof value === 'string' ? value : fallback;
}

function num(value: unknown, fallback = 0): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

function obj(value: unknown): Record<string, unknown> | null {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null;
}

/** A link we are willing to put in an href: http, https or mailto; anything else is dropped. */
export function safeUrl(value: unknown): string | null {
  if (typeof value !== 'string' || !value.trim()) {
    return null;
  }
  const url = value.trim();
  if (/^(https?:\/\/|mailto:)/i.test(url)) {
    return url;
  }
  return null;
}

function parseMatch(value: unknown): IMatch | null {
  const m = obj(value);
  if (!m) {
    return null;
  }
  return {
    line: num(m.line),
    column: num(m.column),
    end_line: num(m.end_line, num(m.line)),
    end_column: num(m.end_column),
    exact: m.exact === true,
    excerpt: str(m.excerpt),
    matched: str(m.matched),
    matcher: str(m.matcher),
    via: Array.isArray(m.via) ? m.via.map(v => str(v)).filter(Boolean) : []
  };
}

function parseRule(value: unknown): IRuleHit | null {
  const r = obj(value);
  if (!r) {
    return null;
  }
  const matches = Array.isArray(r.matches)
    ? (r.matches.map(parseMatch).filter(Boolean) as IMatch[])
    : [];
  return {
    id: str(r.id),
    title: str(r.title) || str(r.id),
    category: str(r.category),
    severity: str(r.severity, 'medium'),
    action: str(r.action),
    message: str(r.message),
    matches
  };
}

/** The MIME payload, validated; null when it is not one. */
export function parseVerdict(value: unknown): IVerdictPayload | null {
  const p = obj(value);
  if (!p) {
    return null;
  }
  const action = str(p.action) as Action;
  if (!ACTIONS.includes(action)) {
    return null;
  }
  const rules = Array.isArray(p.rules)
    ? (p.rules.map(parseRule).filter(Boolean) as IRuleHit[])
    : [];
  const confirm = obj(p.confirm);
  return {
    version: num(p.version, 1),
    action,
    mode: str(p.mode, 'enforce'),
    policy: str(p.policy),
    rules,
    info_url: safeUrl(p.info_url),
    appeal_url: safeUrl(p.appeal_url),
    contact: typeof p.contact === 'string' && p.contact ? p.contact : null,
    reason: typeof p.reason === 'string' ? p.reason : null,
    confirm:
      confirm && typeof confirm.token === 'string' && confirm.token
        ? {
            token: confirm.token,
            expires: typeof confirm.expires === 'string' ? confirm.expires : null
          }
        : null
  };
}

/** A recent-verdicts item or a decision event, as a record; null when it carries no verdict. */
export function parseRecord(value: unknown): IVerdictRecord | null {
  const r = obj(value);
  if (!r) {
    return null;
  }
  const verdict = parseVerdict(r.verdict);
  if (!verdict) {
    return null;
  }
  const nullable = (v: unknown) => (typeof v === 'string' && v ? v : null);
  return {
    time: nullable(r.time),
    kernel_id: nullable(r.kernel_id),
    msg_id: nullable(r.msg_id),
    notebook_path: nullable(r.notebook_path),
    verdict
  };
}

/** Actions a student is shown (banner, notification, inline notice). */
export function isShown(action: string): action is 'warn' | 'confirm' | 'block' {
  return action === 'warn' || action === 'confirm' || action === 'block';
}
