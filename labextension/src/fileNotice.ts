/**
 * The notice a notebook gets when it is opened with code these terms prohibit already in it
 * ("… cells 3, 7. Nothing has run"). One line above the notebook, apart from the verdict banner:
 * it speaks of the file as it was opened, not of anything that ran.
 */

import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { externalLink, h } from './dom';
import { IVerdictRecord } from './types';

export class FileNotice extends Widget {
  constructor(record: IVerdictRecord, trans: TranslationBundle) {
    super();
    this.addClass('jp-TosGuard-fileNotice');
    const verdict = record.verdict;
    const dismiss = h(
      'button',
      { class: 'jp-TosGuard-dismiss', type: 'button', title: trans.__('Dismiss'), 'aria-label': trans.__('Dismiss') },
      '✕'
    );
    dismiss.addEventListener('click', () => this.dispose());
    this.node.setAttribute('role', 'status');
    this.node.appendChild(
      h(
        'div',
        { class: 'jp-TosGuard-fileNotice-row' },
        h('span', { class: 'jp-TosGuard-badge' }, trans.__('Notice')),
        ' ',
        h('span', { class: 'jp-TosGuard-fileNotice-text' }, verdict.reason ?? ''),
        verdict.info_url ? ' ' : null,
        verdict.info_url ? externalLink(verdict.info_url, trans.__('Terms of use')) : null,
        h('span', { class: 'jp-TosGuard-spacer' }),
        dismiss
      )
    );
  }
}
