/**
 * The "Terms of use" panel: the operator's policy summary (GET /tos-guard/policy), by
 * category: what is prohibited, what happens (warn, ask first, block) and why.
 */

import type { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { externalLink, h } from './dom';
import { actionLabel, severityLabel } from './renderer';
import { IPolicySummary, safeUrl } from './types';

const CATEGORY_NAMES: Record<string, string> = {
  deepfake: 'Deepfakes and non-consensual synthetic media',
  mining: 'Cryptocurrency mining',
  'password-cracking': 'Password cracking',
  dos: 'Denial-of-service tools',
  p2p: 'Peer-to-peer file sharing',
  'remote-access': 'Remote desktops and tunnels'
};

export function categoryTitle(name: string, trans: TranslationBundle): string {
  const known = CATEGORY_NAMES[name];
  return known ? trans.__(known) : name.replace(/[_-]+/g, ' ');
}

export function modeText(mode: string, trans: TranslationBundle): string {
  switch (mode) {
    case 'enforce':
      return trans.__('These rules are enforced: each rule warns, asks first or blocks as listed.');
    case 'warn':
      return trans.__(
        'These rules currently only warn: nothing is blocked, but every match is recorded.'
      );
    case 'monitor':
      return trans.__(
        'These rules are being trialled: matches are recorded, nothing is shown or blocked.'
      );
    default:
      return '';
  }
}

/** The policy summary as DOM (text nodes only). */
export function renderPolicy(summary: IPolicySummary, trans: TranslationBundle): HTMLElement {
  const info = safeUrl(summary.info_url);
  const appeal = safeUrl(summary.appeal_url);
  const links: Node[] = [];
  if (info) {
    links.push(externalLink(info, trans.__('Read the full terms of use')));
  }
  if (appeal) {
    links.push(externalLink(appeal, trans.__('Ask for an exemption or report a mistake')));
  }
  const root = h(
    'div',
    { class: 'jp-TosGuard-policy' },
    h('h1', {}, trans.__('Terms of use')),
    summary.name ? h('p', { class: 'jp-TosGuard-policyName' }, summary.name) : null,
    h(
      'p',
      {},
      trans.__(
        'Code you run here is checked before it runs. What this service does not allow, and why:'
      )
    ),
    h('p', { class: 'jp-TosGuard-mode' }, modeText(summary.mode, trans)),
    links.length
      ? h('p', { class: 'jp-TosGuard-links' }, ...links.flatMap((l, i) => (i ? [' · ', l] : [l])))
      : null,
    summary.contact && !appeal
      ? h('p', {}, trans.__('Questions or exemptions: %1', summary.contact))
      : null
  );
  if (!summary.categories.length) {
    root.appendChild(h('p', {}, trans.__('No rules are in force.')));
  }
  for (const category of summary.categories) {
    const list = h('ul', { class: 'jp-TosGuard-policyRules' });
    // most categories give every rule the same reason: say it once, under the heading
    const messages = new Set(category.rules.map(r => r.message || ''));
    const shared = messages.size === 1 && category.rules.length > 1 ? [...messages][0] : '';
    for (const rule of category.rules) {
      list.appendChild(
        h(
          'li',
          {
            class: `jp-TosGuard-policyRule jp-TosGuard-action-${rule.action}`,
            'data-rule': rule.id
          },
          h(
            'div',
            { class: 'jp-TosGuard-ruleHead' },
            h('span', { class: 'jp-TosGuard-badge' }, actionLabel(rule.action, trans)),
            ' ',
            h('span', { class: 'jp-TosGuard-title' }, rule.title || rule.id),
            ' ',
            h('span', { class: 'jp-TosGuard-severity' }, severityLabel(rule.severity, trans))
          ),
          rule.message && !shared ? h('p', { class: 'jp-TosGuard-message' }, rule.message) : null
        )
      );
    }
    root.appendChild(
      h(
        'section',
        { class: 'jp-TosGuard-policyCategory', 'data-category': category.name },
        h('h2', {}, categoryTitle(category.name, trans)),
        shared ? h('p', { class: 'jp-TosGuard-categoryMessage' }, shared) : null,
        list
      )
    );
  }
  return root;
}

/** The panel widget: loads the summary and renders it, or says why it could not. */
export class PolicyPanel extends Widget {
  constructor(
    private readonly fetchSummary: () => Promise<IPolicySummary>,
    private readonly trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-TosGuard-policyPanel');
    this.node.tabIndex = 0;
    void this.refresh();
  }

  async refresh(): Promise<void> {
    this.node.textContent = '';
    this.node.appendChild(
      h('p', { class: 'jp-TosGuard-loading' }, this.trans.__('Loading the terms of use…'))
    );
    try {
      const summary = await this.fetchSummary();
      this.node.textContent = '';
      this.node.appendChild(renderPolicy(summary, this.trans));
    } catch (err) {
      this.node.textContent = '';
      this.node.appendChild(
        h(
          'p',
          { class: 'jp-TosGuard-error', role: 'alert' },
          this.trans.__(
            'The terms of use could not be loaded: %1',
            String((err as Error)?.message ?? err)
          )
        )
      );
    }
  }
}
