import { Widget } from '@lumino/widgets';

import { categoryTitle, PolicyPanel, renderPolicy } from '../src/policyPanel';
import type { IPolicySummary } from '../src/types';
import { trans } from './helpers';

const summary: IPolicySummary = {
  name: 'University terms',
  mode: 'enforce',
  info_url: 'https://example.org/terms',
  appeal_url: 'javascript:alert(1)',
  contact: 'help@example.org',
  rule_count: 2,
  categories: [
    {
      name: 'mining',
      rules: [
        {
          id: 'mining.xmrig',
          title: 'XMRig',
          severity: 'high',
          action: 'block',
          message: 'No mining.'
        }
      ]
    },
    {
      name: 'remote-access',
      rules: [
        {
          id: 'remote.ngrok',
          title: '<i>ngrok</i>',
          severity: 'medium',
          action: 'confirm',
          message: 'Tunnels expose the server.'
        }
      ]
    }
  ]
};

describe('renderPolicy', () => {
  it('lists categories, rules, what happens and why', () => {
    const node = renderPolicy(summary, trans);
    expect([...node.querySelectorAll('h2')].map(h => h.textContent)).toEqual([
      'Cryptocurrency mining',
      'Remote desktops and tunnels'
    ]);
    const rules = [...node.querySelectorAll<HTMLElement>('.jp-TosGuard-policyRule')];
    expect(rules.map(r => r.dataset.rule)).toEqual(['mining.xmrig', 'remote.ngrok']);
    expect(rules[0].querySelector('.jp-TosGuard-badge')?.textContent).toBe('Blocked');
    expect(rules[1].querySelector('.jp-TosGuard-badge')?.textContent).toBe('Needs acknowledgement');
    expect(rules[1].querySelector('.jp-TosGuard-title')?.textContent).toBe('<i>ngrok</i>');
    expect(node.querySelector('i')).toBeNull();
    expect(node.textContent).toContain('No mining.');
    expect(node.textContent).toContain('These rules are enforced');
  });

  it('only links to http(s)/mailto, and falls back to the contact', () => {
    const node = renderPolicy(summary, trans);
    expect([...node.querySelectorAll('a')].map(a => a.getAttribute('href'))).toEqual([
      'https://example.org/terms'
    ]);
    expect(node.textContent).toContain('Questions or exemptions: help@example.org');
  });

  it('names unknown categories readably', () => {
    expect(categoryTitle('data_exfiltration', trans)).toBe('data exfiltration');
  });
});

describe('PolicyPanel', () => {
  it('loads and renders the summary', async () => {
    const panel = new PolicyPanel(() => Promise.resolve(summary), trans);
    Widget.attach(panel, document.body);
    await panel.refresh();
    expect(panel.node.querySelector('h1')?.textContent).toBe('Terms of use');
    expect(panel.node.querySelectorAll('.jp-TosGuard-policyRule')).toHaveLength(2);
    panel.dispose();
  });

  it('says when the summary could not be loaded', async () => {
    const panel = new PolicyPanel(() => Promise.reject(new Error('503 guard inactive')), trans);
    await panel.refresh();
    const error = panel.node.querySelector('.jp-TosGuard-error');
    expect(error?.getAttribute('role')).toBe('alert');
    expect(error?.textContent).toContain('503 guard inactive');
    panel.dispose();
  });
});

describe('shared reasons', () => {
  it('says a reason shared by every rule of a category once', () => {
    const same: IPolicySummary = {
      ...summary,
      categories: [
        {
          name: 'deepfake',
          rules: [
            { id: 'a', title: 'A', severity: 'medium', action: 'warn', message: 'Same reason.' },
            { id: 'b', title: 'B', severity: 'medium', action: 'warn', message: 'Same reason.' }
          ]
        }
      ]
    };
    const node = renderPolicy(same, trans);
    expect(node.querySelector('.jp-TosGuard-categoryMessage')?.textContent).toBe('Same reason.');
    expect(node.querySelectorAll('.jp-TosGuard-policyRule .jp-TosGuard-message')).toHaveLength(0);
  });
});
