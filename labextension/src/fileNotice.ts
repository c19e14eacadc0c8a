/**
 * The notice a notebook gets when it is opened with code these terms prohibit already in it
 * ("… cells 3, 7. Nothing has run"). One line above the notebook, apart from the verdict banner:
 * it speaks of the file as it was opened, not of anything that ran. It is added hidden with the
 * banner and shown when the answer comes, so the panel's layout makes room for it.
 */

import { TranslationBundle } from '@jupyterlab/translation';
import { Message, MessageLoop } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { externalLink, h } from './dom';
import { fitToContent } from './layout';
import { IVerdictRecord } from './types';

export class FileNotice extends Widget {
  constructor(private readonly trans: TranslationBundle) {
    super();
    this.addClass('jp-TosGuard-fileNotice');
    this.node.setAttribute('role', 'status');
    this.hide();
    // measured when shown, before the layout gave it its width: follow the line's real height
    if (typeof ResizeObserver !== 'undefined') {
      this._observer = new ResizeObserver(() => this.fit());
    }
  }

  private _observer: ResizeObserver | null = null;

  dispose(): void {
    this._observer?.disconnect();
    super.dispose();
  }

  /** Say what the policy found in the file as opened. */
  showRecord(record: IVerdictRecord): void {
    const trans = this.trans;
    const verdict = record.verdict;
    const dismiss = h(
      'button',
      {
        class: 'jp-TosGuard-dismiss',
        type: 'button',
        title: trans.__('Dismiss'),
        'aria-label': trans.__('Dismiss')
      },
      '✕'
    );
    dismiss.addEventListener('click', () => {
      this.hide();
      if (this.parent) {
        MessageLoop.postMessage(this.parent, Widget.Msg.FitRequest);
      }
    });
    this.node.replaceChildren(
      h(
        'div',
        { class: 'jp-TosGuard-fileNotice-row' },
        // first, not last: the first cell's floating toolbar covers the right-hand end of this line
        dismiss,
        h('span', { class: 'jp-TosGuard-badge' }, trans.__('Notice')),
        ' ',
        // one line like the banner's (the whole text is its tooltip): it must not push the
        // notebook down further than the banner may
        h(
          'span',
          { class: 'jp-TosGuard-fileNotice-text', title: verdict.reason ?? '' },
          verdict.reason ?? ''
        ),
        verdict.info_url ? ' ' : null,
        verdict.info_url ? externalLink(verdict.info_url, trans.__('Terms of use')) : null
      )
    );
    this._observer?.disconnect();
    this._observer?.observe(this.node.firstElementChild as HTMLElement);
    this.show();
  }

  protected onAfterShow(msg: Message): void {
    this.fit();
  }

  /**
   * The content header is a lumino BoxPanel, which sizes children by their min-height rather
   * than their content: give the notice the height of its (possibly wrapped) line.
   */
  fit(): void {
    if (!this.isAttached || this.isHidden) {
      return;
    }
    const row = this.node.firstElementChild as HTMLElement | null;
    fitToContent(this, row?.offsetHeight ?? 0);
  }
}
