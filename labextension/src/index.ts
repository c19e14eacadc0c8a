/**
 * jupyter-tos-guard's JupyterLab 4 / Notebook 7 extension: it explains the server's
 * terms-of-use verdicts. It decides nothing: every decision is the server's.
 *
 * - inline: a renderer for application/vnd.jupyter.tos-guard+json in cell outputs
 * - a banner at the top of the notebook whose kernel caused a verdict (live from the
 *   server's event stream; on load from GET /tos-guard/verdicts?kernel_id=)
 * - a notification when that notebook is not in view
 * - the student's settings (banner height, notifications) from the settings registry, and
 *   their dismissals in the state database, so both follow the workspace
 * - a "Terms of use" command (palette, Help menu) opening the policy summary
 * - "I understand — run anyway" for `confirm` rules: the cell is re-executed with the
 *   server's token in the execute_request metadata; the server verifies it
 */

import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import {
  Dialog,
  ICommandPalette,
  MainAreaWidget,
  Notification,
  showDialog
} from '@jupyterlab/apputils';
import { CodeCell } from '@jupyterlab/cells';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { IMainMenu } from '@jupyterlab/mainmenu';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStateDB } from '@jupyterlab/statedb';
import { ITranslator, nullTranslator, TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { GuardAPI } from './api';
import { entrySummary, VerdictBanner } from './banner';
import { FileNotice } from './fileNotice';
import {
  AckState,
  IBannerEntry,
  IDismissedLog,
  MemoryDismissedLog,
  StateDismissedLog,
  VerdictStore
} from './model/verdicts';
import { PolicyPanel } from './policyPanel';
import { actionLabel, createRendererFactory, RENDERER_RANK } from './renderer';
import { GuardSettings, toastOptions } from './settings';
import {
  EVENT_SCHEMA_ID,
  IVerdictRecord,
  isShown,
  METADATA_KEY,
  MIME_TYPE,
  parseRecord,
  parseVerdict
} from './types';

export * from './types';

const PLUGIN_ID = 'jupyter-tos-guard:plugin';

export namespace CommandIDs {
  export const showTerms = 'tos-guard:show-terms';
}

/** The code cell of `panel` whose outputs hold the confirm notice with `token`. */
export function findCellWithToken(panel: NotebookPanel, token: string): CodeCell | null {
  for (const cell of panel.content.widgets) {
    if (cell.model.type !== 'code') {
      continue;
    }
    const outputs = (cell as CodeCell).model.outputs;
    for (let i = 0; i < outputs.length; i++) {
      const payload = parseVerdict(outputs.get(i).data[MIME_TYPE]);
      if (payload?.confirm?.token === token) {
        return cell as CodeCell;
      }
    }
  }
  return null;
}

/** Everything the banners need, for all notebooks of this page. */
class GuardFrontend {
  constructor(
    private readonly app: JupyterFrontEnd,
    private readonly api: GuardAPI,
    private readonly trans: TranslationBundle,
    tracker: INotebookTracker | null,
    private readonly docManager: IDocumentManager | null,
    private readonly dismissed: IDismissedLog,
    private readonly settings: GuardSettings
  ) {
    settings.changed.connect((_, current) => {
      for (const { banner } of this._panels.values()) {
        banner.maxHeight = current.bannerMaxHeight;
      }
    });
    if (tracker) {
      tracker.forEach(panel => this.attach(panel));
      tracker.widgetAdded.connect((_, panel) => this.attach(panel));
    }
    app.serviceManager.events.stream.connect((_, event) => this.onEvent(event));
  }

  /** Give a notebook its banner and its past verdicts. */
  attach(panel: NotebookPanel): void {
    if (this._panels.has(panel)) {
      return;
    }
    const store = new VerdictStore({ dismissed: this.dismissed });
    const banner = new VerdictBanner({
      store,
      trans: this.trans,
      maxHeight: this.settings.current.bannerMaxHeight,
      container: () => panel.node,
      onConfirm: entry => void this.confirmFromBanner(panel, entry)
    });
    banner.id = `jp-TosGuard-banner-${++this._count}`;
    panel.contentHeader.insertWidget(0, banner);
    const notice = new FileNotice(this.trans);
    panel.contentHeader.insertWidget(0, notice);
    banner.node.addEventListener('tos-guard-empty', () => panel.content.activate());
    const state = { store, banner, loaded: new Set<string>() };
    this._panels.set(panel, state);

    const load = (kernelId: string | undefined) => {
      if (!kernelId || state.loaded.has(kernelId)) {
        return;
      }
      state.loaded.add(kernelId);
      // what the student dismissed before this page was loaded must be known first
      Promise.all([this.api.verdicts(kernelId), this.dismissed.ready]).then(
        ([records]) => store.addAll(records.filter(r => r.kernel_id === kernelId)),
        err => {
          state.loaded.delete(kernelId);
          console.warn('tos-guard: could not load recent verdicts', err);
        }
      );
    };
    void panel.sessionContext.ready.then(() => load(panel.sessionContext.session?.kernel?.id));
    // before anything runs: does the notebook as opened hold code these terms prohibit?
    void panel.context.ready.then(() =>
      this.api.file(panel.context.path).then(
        record => {
          if (record && !notice.isDisposed) {
            notice.showRecord(record);
          }
        },
        err => console.warn('tos-guard: could not read the notebook with the policy', err)
      )
    );
    panel.sessionContext.kernelChanged.connect((_, args) => load(args.newValue?.id));
    panel.disposed.connect(() => {
      this._panels.delete(panel);
      banner.dispose();
      notice.dispose();
    });
  }

  /** The notebooks of this page a verdict belongs to: same kernel, else same path. */
  targets(record: IVerdictRecord): NotebookPanel[] {
    const panels = [...this._panels.keys()];
    const byKernel = panels.filter(
      p => record.kernel_id && p.sessionContext.session?.kernel?.id === record.kernel_id
    );
    if (byKernel.length) {
      return byKernel;
    }
    return panels.filter(p => record.notebook_path && p.context.path === record.notebook_path);
  }

  onEvent(event: { schema_id?: string; [key: string]: unknown }): void {
    if (event?.schema_id !== EVENT_SCHEMA_ID) {
      return;
    }
    // decisions and fail-closed engine errors alike carry the verdict the server built
    const record = parseRecord(event);
    if (!record || !isShown(record.verdict.action)) {
      return;
    }
    const panels = this.targets(record);
    let fresh = false;
    for (const panel of panels) {
      const result = this._panels.get(panel)!.store.add(record);
      fresh = fresh || result === 'new' || result === 'repeat';
    }
    const inView = panels.some(p => p.isVisible);
    if (!inView && (fresh || !panels.length)) {
      this.notify(record, panels);
    }
  }

  /** A notification for a verdict whose notebook is not in view; repeats update it. */
  notify(record: IVerdictRecord, panels: NotebookPanel[]): void {
    const verdict = record.verdict;
    const toast = toastOptions(verdict.action, this.settings.current);
    if (!toast) {
      return;
    }
    const path = record.notebook_path;
    const name = path ? path.split('/').pop() : this.trans.__('a notebook');
    const key = `${record.kernel_id}|${verdict.action}|${verdict.rules.map(r => r.id).join(',')}`;
    const count = (this._notified.get(key)?.count ?? 0) + 1;
    const fakeEntry = { payload: verdict } as IBannerEntry;
    let message = this.trans.__(
      '%1 in %2: %3',
      actionLabel(verdict.action, this.trans),
      name ?? '',
      entrySummary(fakeEntry, this.trans)
    );
    if (count > 1) {
      message += ` (${this.trans._n('%1 time', '%1 times', count)})`;
    }
    const actions = [];
    if (panels.length) {
      actions.push({
        label: this.trans.__('Show notebook'),
        callback: () => this.app.shell.activateById(panels[0].id)
      });
    } else if (path && this.docManager) {
      const docManager = this.docManager;
      actions.push({
        label: this.trans.__('Open notebook'),
        callback: () => void docManager.openOrReveal(path)
      });
    }
    const type = toast.type;
    const options = { autoClose: toast.autoClose, actions };
    const previous = this._notified.get(key);
    if (previous && Notification.update({ id: previous.id, message, type, ...options })) {
      this._notified.set(key, { id: previous.id, count });
      return;
    }
    const id = Notification.emit(message, type, options);
    this._notified.set(key, { id, count });
  }

  /** "Run anyway" from the inline notice: find the notebook the click came from. */
  async confirmFromNode(token: string, origin: HTMLElement): Promise<boolean> {
    const panel = [...this._panels.keys()].find(p => p.node.contains(origin));
    if (!panel) {
      return false;
    }
    return this.runAcknowledged(panel, token);
  }

  async confirmFromBanner(panel: NotebookPanel, entry: IBannerEntry): Promise<void> {
    const token = entry.payload.confirm?.token;
    if (token) {
      await this.runAcknowledged(panel, token);
    }
  }

  /** Re-execute the cell that carries `token`, with the acknowledgement in its metadata. */
  async runAcknowledged(panel: NotebookPanel, token: string): Promise<boolean> {
    const cell = findCellWithToken(panel, token);
    const store = this._panels.get(panel)?.store;
    const key = store?.entries.find(e => e.payload.confirm?.token === token)?.key;
    // a refused acknowledgement comes back as a new confirm verdict with a new token, which
    // resets the entry: only report on the entry while it still holds this token
    const setAck = (ack: AckState) => {
      if (store && key && store.get(key)?.payload.confirm?.token === token) {
        store.setAck(key, ack);
      }
    };
    if (!cell) {
      setAck('failed');
      return false;
    }
    setAck('running');
    panel.content.activeCellIndex = panel.content.widgets.indexOf(cell);
    try {
      const reply = await CodeCell.execute(cell, panel.sessionContext, {
        [METADATA_KEY]: { acknowledge: token }
      });
      const content = reply ? reply.content : null;
      const refused =
        !content || (content.status === 'error' && content.ename === 'TermsOfUseViolation');
      setAck(refused ? 'failed' : 'done'); // an error of the code itself: it did run
      return true;
    } catch (err) {
      setAck('failed');
      throw err;
    }
  }

  private _panels = new Map<
    NotebookPanel,
    { store: VerdictStore; banner: VerdictBanner; loaded: Set<string> }
  >();
  private _notified = new Map<string, { id: string; count: number }>();
  private _count = 0;
}

/** Dismissals in the state database (the workspace's), or for this page only without one. */
function dismissedLog(state: IStateDB | null): IDismissedLog {
  return state ? new StateDismissedLog(state) : new MemoryDismissedLog();
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'Explains the terms-of-use verdicts of jupyter-tos-guard: inline notices, notebook banners, notifications and the policy summary.',
  autoStart: true,
  requires: [IRenderMimeRegistry],
  optional: [
    INotebookTracker,
    ITranslator,
    ICommandPalette,
    IMainMenu,
    IDocumentManager,
    ISettingRegistry,
    IStateDB
  ],
  activate: (
    app: JupyterFrontEnd,
    rendermime: IRenderMimeRegistry,
    tracker: INotebookTracker | null,
    translator: ITranslator | null,
    palette: ICommandPalette | null,
    mainMenu: IMainMenu | null,
    docManager: IDocumentManager | null,
    settingRegistry: ISettingRegistry | null,
    state: IStateDB | null
  ) => {
    const trans = (translator ?? nullTranslator).load('jupyter_tos_guard');
    const api = new GuardAPI(app.serviceManager.serverSettings);
    const settings = new GuardSettings();
    settingRegistry?.load(PLUGIN_ID).then(
      loaded => {
        settings.update(loaded.composite);
        loaded.changed.connect(() => settings.update(loaded.composite));
      },
      err => console.warn('tos-guard: could not read the settings; using the defaults', err)
    );
    const frontend = new GuardFrontend(
      app,
      api,
      trans,
      tracker,
      docManager,
      dismissedLog(state),
      settings
    );

    rendermime.addFactory(
      createRendererFactory(trans, {
        onConfirm: tracker ? (token, origin) => frontend.confirmFromNode(token, origin) : undefined
      }),
      RENDERER_RANK
    );

    let panel: MainAreaWidget<PolicyPanel> | null = null;
    app.commands.addCommand(CommandIDs.showTerms, {
      label: trans.__('Terms of use'),
      caption: trans.__('What this service does not allow, and why'),
      execute: async () => {
        if (panel && !panel.isDisposed) {
          if (panel.isAttached) {
            app.shell.activateById(panel.id);
            return;
          }
          panel.dispose();
        }
        const content = new PolicyPanel(() => api.policy(), trans);
        panel = new MainAreaWidget({ content });
        panel.id = 'jp-TosGuard-policy';
        panel.title.label = trans.__('Terms of use');
        panel.title.closable = true;
        app.shell.add(panel, 'main');
        if (panel.isAttached) {
          app.shell.activateById(panel.id);
          return;
        }
        // a shell without room in its main area (Notebook 7's notebook page): a dialog
        panel.dispose();
        panel = null;
        const body = new PolicyPanel(() => api.policy(), trans);
        body.addClass('jp-TosGuard-policyDialog');
        await showDialog({
          title: trans.__('Terms of use'),
          body: body as Widget,
          buttons: [Dialog.okButton({ label: trans.__('Close') })]
        });
      }
    });
    palette?.addItem({ command: CommandIDs.showTerms, category: trans.__('Help') });
    mainMenu?.helpMenu.addGroup([{ command: CommandIDs.showTerms }], 0);
  }
};

export default plugin;
