/**
 * The inline notice: a renderer for application/vnd.jupyter.tos-guard+json.
 *
 * It shows, for every matched rule, its title, severity, the operator's plain-words message
 * and the matched line with the match highlighted, plus links to the terms and to the
 * exemption route. For a `confirm` verdict it offers "I understand — run anyway".
 * Excerpts and everything else from the payload are inserted as text nodes only.
 */

import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import type { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { append, externalLink, h } from './dom';
import { IMatch, IVerdictPayload, MIME_TYPE, parseVerdict } from './types';

/** Rank of our renderer: ahead of text/html (50) and every other default renderer. */
export const RENDERER_RANK = 0;

/** Split an excerpt around the match: [before, match, after]; match '' when not found. */
export function highlightParts(m: IMatch): [string, string, string] {
  const excerpt = m.excerpt || '';
  const matched = m.matched || '';
  if (matched) {
    let at = excerpt.indexOf(matched);
    if (at < 0) {
      at = excerpt.toLowerCase().indexOf(matched.toLowerCase());
    }
    if (at >= 0) {
      return [
        excerpt.slice(0, at),
        excerpt.slice(at, at + matched.length),
        excerpt.slice(at + matched.length)
      ];
    }
  }
  return [excerpt, '', ''];
}

/** The headline of a verdict, by action. */
export function headline(
  payload: Pick<IVerdictPayload, 'action'>,
  trans: TranslationBundle
): string {
  switch (payload.action) {
    case 'block':
      return trans.__('This cell was not run');
    case 'confirm':
      return trans.__('This cell was not run yet: it needs your acknowledgement');
    case 'warn':
      return trans.__('Terms of use warning: the cell ran, and the run was recorded');
    default:
      return trans.__('Terms of use notice');
  }
}

/** A short badge text for an action. */
export function actionLabel(action: string, trans: TranslationBundle): string {
  switch (action) {
    case 'block':
      return trans.__('Blocked');
    case 'confirm':
      return trans.__('Needs acknowledgement');
    case 'warn':
      return trans.__('Warning');
    case 'log':
      return trans.__('Logged');
    default:
      return action;
  }
}

export function severityLabel(severity: string, trans: TranslationBundle): string {
  switch (severity) {
    case 'low':
      return trans.__('low severity');
    case 'medium':
      return trans.__('medium severity');
    case 'high':
      return trans.__('high severity');
    case 'critical':
      return trans.__('critical severity');
    default:
      return severity;
  }
}

/** The strongest severity of a verdict's rules, for its colour. */
export function topSeverity(payload: IVerdictPayload): string {
  const order = ['low', 'medium', 'high', 'critical'];
  let best = -1;
  for (const rule of payload.rules) {
    best = Math.max(best, order.indexOf(rule.severity));
  }
  return best >= 0 ? order[best] : 'medium';
}

/** The matched line, with the match in a <mark>; all text nodes. */
export function excerptNode(m: IMatch, trans: TranslationBundle): HTMLElement {
  const [before, hit, after] = highlightParts(m);
  const code = h(
    'code',
    { class: 'jp-TosGuard-excerpt' },
    before,
    hit ? h('mark', { class: 'jp-TosGuard-hit' }, hit) : null,
    after
  );
  const where = m.line ? trans.__('Line %1:', String(m.line)) : trans.__('Matched:');
  const extra: (HTMLElement | null)[] = [];
  if (!hit && m.matched) {
    // computed evidence (a decoded string, an expanded variable): say what was found
    extra.push(
      h(
        'span',
        { class: 'jp-TosGuard-computed' },
        trans.__('found: '),
        h('code', { class: 'jp-TosGuard-matched' }, m.matched)
      )
    );
  }
  if (m.via.length) {
    extra.push(h('span', { class: 'jp-TosGuard-via' }, trans.__('(via %1)', m.via.join(', '))));
  }
  return h(
    'div',
    { class: 'jp-TosGuard-match' },
    h('span', { class: 'jp-TosGuard-where' }, where),
    ' ',
    code,
    extra.length ? ' ' : null,
    ...extra
  );
}

/** Links to the terms and the exemption/appeal route, or the contact. */
export function linksNode(payload: IVerdictPayload, trans: TranslationBundle): HTMLElement | null {
  const items: (Node | string)[] = [];
  if (payload.info_url) {
    items.push(externalLink(payload.info_url, trans.__('Terms of use')));
  }
  if (payload.appeal_url) {
    if (items.length) {
      items.push(' · ');
    }
    items.push(
      externalLink(payload.appeal_url, trans.__('Ask for an exemption or report a mistake'))
    );
  } else if (payload.contact) {
    if (items.length) {
      items.push(' · ');
    }
    items.push(
      h(
        'span',
        { class: 'jp-TosGuard-contact' },
        trans.__('Questions or exemptions: %1', payload.contact)
      )
    );
  }
  return items.length ? h('div', { class: 'jp-TosGuard-links' }, ...items) : null;
}

export interface IConfirmHandler {
  /**
   * Run the cell that carries this token again, acknowledged. `origin` is the node the
   * student clicked in (to find its cell). Resolves true when the cell was re-run.
   */
  (token: string, origin: HTMLElement): Promise<boolean>;
}

/** Whether a confirm token has passed its expiry time. */
export function isExpired(expires: string | null | undefined, now = Date.now()): boolean {
  if (!expires) {
    return false;
  }
  const t = Date.parse(expires);
  return Number.isFinite(t) && t <= now;
}

/** The "I understand — run anyway" button, or a note when the token has expired. */
export function confirmControls(
  payload: IVerdictPayload,
  trans: TranslationBundle,
  onConfirm: IConfirmHandler | undefined,
  options: { disabled?: boolean; label?: string } = {}
): HTMLElement | null {
  if (payload.action !== 'confirm' || !payload.confirm) {
    return null;
  }
  if (isExpired(payload.confirm.expires)) {
    return h(
      'div',
      { class: 'jp-TosGuard-confirm jp-TosGuard-expired' },
      trans.__('This acknowledgement has expired. Run the cell again to be asked again.')
    );
  }
  if (!onConfirm) {
    return h(
      'div',
      { class: 'jp-TosGuard-confirm' },
      trans.__('Acknowledge this notice in JupyterLab or Notebook 7 to run the cell.')
    );
  }
  const token = payload.confirm.token;
  const button = h(
    'button',
    {
      type: 'button',
      class: 'jp-Button jp-mod-styled jp-mod-warn jp-TosGuard-runAnyway'
    },
    options.label ?? trans.__('I understand — run anyway')
  );
  if (options.disabled) {
    button.disabled = true;
  }
  const status = h('span', {
    class: 'jp-TosGuard-confirmStatus',
    role: 'status',
    'aria-live': 'polite'
  });
  button.addEventListener('click', () => {
    button.disabled = true;
    status.textContent = trans.__('Running…');
    onConfirm(token, button).then(
      ran => {
        status.textContent = ran
          ? trans.__('Acknowledged; the cell is running.')
          : trans.__('The cell for this notice was not found; run it again.');
        if (!ran) {
          button.disabled = false;
        }
      },
      () => {
        status.textContent = trans.__('Could not run the cell.');
        button.disabled = false;
      }
    );
  });
  return h(
    'div',
    { class: 'jp-TosGuard-confirm' },
    h(
      'span',
      { class: 'jp-TosGuard-confirmText' },
      trans.__('If your use is allowed, acknowledge the terms and run this cell once.')
    ),
    ' ',
    button,
    ' ',
    status
  );
}

export interface IRenderOptions {
  onConfirm?: IConfirmHandler;
}

/** At most `max` matches, one per line: two matchers hitting one line show that line once. */
export function onePerLine(matches: readonly IMatch[], max: number): IMatch[] {
  const lines = new Set<number>();
  return matches.filter(m => {
    if (lines.has(m.line) || lines.size >= max) {
      return false;
    }
    lines.add(m.line);
    return true;
  });
}

/** The whole inline notice for one verdict. */
export function renderVerdict(
  payload: IVerdictPayload,
  trans: TranslationBundle,
  options: IRenderOptions = {}
): HTMLElement {
  const severity = topSeverity(payload);
  const root = h('div', {
    class: `jp-TosGuard-notice jp-TosGuard-action-${payload.action} jp-TosGuard-severity-${severity}`,
    role: payload.action === 'warn' ? 'status' : 'alert',
    'data-action': payload.action
  });
  append(root, [
    h(
      'div',
      { class: 'jp-TosGuard-head' },
      h('span', { class: 'jp-TosGuard-badge' }, actionLabel(payload.action, trans)),
      ' ',
      h('strong', { class: 'jp-TosGuard-headline' }, headline(payload, trans))
    )
  ]);
  if (payload.reason) {
    root.appendChild(h('p', { class: 'jp-TosGuard-message' }, payload.reason));
  }
  for (const rule of payload.rules) {
    const section = h(
      'section',
      {
        class: `jp-TosGuard-rule jp-TosGuard-severity-${rule.severity}`,
        'data-rule': rule.id
      },
      h(
        'div',
        { class: 'jp-TosGuard-ruleHead' },
        h('span', { class: 'jp-TosGuard-title' }, rule.title),
        ' ',
        h('span', { class: 'jp-TosGuard-severity' }, severityLabel(rule.severity, trans)),
        ' ',
        h('code', { class: 'jp-TosGuard-ruleId' }, rule.id),
        rule.category ? h('span', { class: 'jp-TosGuard-category' }, ` (${rule.category})`) : null
      ),
      rule.message ? h('p', { class: 'jp-TosGuard-message' }, rule.message) : null,
      ...onePerLine(rule.matches, 3).map(m => excerptNode(m, trans))
    );
    root.appendChild(section);
  }
  const confirm = confirmControls(payload, trans, options.onConfirm);
  if (confirm) {
    root.appendChild(confirm);
  }
  const links = linksNode(payload, trans);
  if (links) {
    root.appendChild(links);
  }
  return root;
}

/** The widget JupyterLab's output area puts our MIME data in. */
export class RenderedVerdict extends Widget implements IRenderMime.IRenderer {
  constructor(
    options: IRenderMime.IRendererOptions,
    private readonly trans: TranslationBundle,
    private readonly renderOptions: IRenderOptions = {}
  ) {
    super();
    this.addClass('jp-TosGuard-rendered');
    this._mimeType = options.mimeType;
  }

  renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const payload = parseVerdict(model.data[this._mimeType]);
    this.node.textContent = '';
    if (!payload) {
      this.node.appendChild(
        h(
          'div',
          { class: 'jp-TosGuard-notice jp-TosGuard-invalid' },
          this.trans.__('Terms of use notice (unreadable)')
        )
      );
      return Promise.resolve();
    }
    this.node.appendChild(renderVerdict(payload, this.trans, this.renderOptions));
    return Promise.resolve();
  }

  private _mimeType: string;
}

/** The factory: safe (it never renders HTML), so untrusted notebooks use it too. */
export function createRendererFactory(
  trans: TranslationBundle,
  options: IRenderOptions = {}
): IRenderMime.IRendererFactory {
  return {
    safe: true,
    mimeTypes: [MIME_TYPE],
    defaultRank: RENDERER_RANK,
    createRenderer: rendererOptions => new RenderedVerdict(rendererOptions, trans, options)
  };
}
