/**
 * The verdicts of one notebook, as its banner shows them.
 *
 * Verdicts arrive twice (the live event and, after a reload, the recent-verdicts endpoint)
 * and often repeat (a student re-running the same cell): the store keeps each verdict once
 * (by msg_id), collapses repeats of the same rules and action into one entry with a count,
 * keeps at most `maxEntries` entries, and remembers what the student dismissed so that a
 * reload does not bring it back.
 */

import { ISignal, Signal } from '@lumino/signaling';

import { Action, isShown, IVerdictPayload, IVerdictRecord } from '../types';

export type AckState = 'none' | 'running' | 'done' | 'failed';

export interface IBannerEntry {
  /** action + rule ids: what collapses */
  readonly key: string;
  readonly action: Action;
  /** the latest verdict of this kind */
  payload: IVerdictPayload;
  count: number;
  firstTime: string | null;
  lastTime: string | null;
  /** msg_id of the latest verdict (the cell execution) */
  msgId: string | null;
  notebookPath: string | null;
  kernelId: string | null;
  /** confirm only: where the student's "run anyway" stands */
  ack: AckState;
  /** increases with every update: newest first */
  seq: number;
  /** msg_ids folded into this entry (bounded), remembered as dismissed on dismiss */
  msgIds: string[];
}

/** What the student dismissed, kept across reloads. */
export interface IDismissedLog {
  has(id: string): boolean;
  add(ids: readonly string[]): void;
  /** resolves once what was dismissed before is known */
  readonly ready?: Promise<void>;
}

/** The part of JupyterLab's state database (IStateDB) a dismissed log needs. */
export interface IStateStore {
  fetch(id: string): Promise<unknown>;
  save(id: string, value: string[]): Promise<unknown>;
}

/**
 * A dismissed log in JupyterLab's state database, so that it travels with the workspace (and
 * is cleared with it), bounded to the newest `cap` ids. Reading it back takes a round trip:
 * wait for `ready` before adding verdicts that may have been dismissed before a reload.
 */
export class StateDismissedLog implements IDismissedLog {
  constructor(
    private readonly state: IStateStore,
    private readonly key = 'jupyter-tos-guard:dismissed',
    private readonly cap = 500
  ) {
    this.ready = state.fetch(key).then(
      value => {
        // dismissals made while it loaded are kept, after the stored ones
        const stored = Array.isArray(value)
          ? value.filter((v): v is string => typeof v === 'string')
          : [];
        const merged = [...stored, ...this._ids.filter(id => !stored.includes(id))];
        const changed = merged.length !== stored.length;
        this._ids = merged.slice(-this.cap);
        this._loaded = true;
        if (changed) {
          this._save();
        }
      },
      () => {
        this._loaded = true; // unreadable: dismissals then start from what this page adds
      }
    );
  }

  /** Resolves once the stored dismissals are known (never rejects). */
  readonly ready: Promise<void>;

  has(id: string): boolean {
    return this._ids.includes(id);
  }

  add(ids: readonly string[]): void {
    const fresh = ids.filter(id => id && !this._ids.includes(id));
    if (!fresh.length) {
      return;
    }
    this._ids = [...this._ids, ...fresh].slice(-this.cap);
    if (this._loaded) {
      this._save(); // before, saving would overwrite what is stored: `ready` saves the merge
    }
  }

  private _save(): void {
    this.state.save(this.key, [...this._ids]).catch(err => {
      // a failed save: the dismissals last for this page only
      console.warn('tos-guard: could not save dismissed notices', err);
    });
  }

  private _ids: string[] = [];
  private _loaded = false;
}

/** A dismissed log for this page only. */
export class MemoryDismissedLog implements IDismissedLog {
  has(id: string): boolean {
    return this._ids.has(id);
  }
  add(ids: readonly string[]): void {
    ids.forEach(id => this._ids.add(id));
  }
  private _ids = new Set<string>();
}

/** Repeats of the same rules with the same action collapse into one entry. */
export function entryKey(payload: IVerdictPayload): string {
  const ids = payload.rules.map(r => r.id).sort();
  return `${payload.action}|${ids.length ? ids.join(',') : payload.reason || ''}`;
}

/** The identity of one verdict, for de-duplication across the event and the endpoint. */
export function recordId(record: IVerdictRecord): string {
  if (record.msg_id) {
    return `msg:${record.msg_id}`;
  }
  return `t:${record.time || ''}|${record.kernel_id || ''}|${entryKey(record.verdict)}`;
}

export type AddResult = 'new' | 'repeat' | 'duplicate' | 'dismissed' | 'ignored';

export interface IVerdictStoreOptions {
  /** entries kept; the oldest go first (default 20) */
  maxEntries?: number;
  dismissed?: IDismissedLog;
}

const MAX_SEEN = 2000;
const MAX_IDS_PER_ENTRY = 50;

export class VerdictStore {
  constructor(options: IVerdictStoreOptions = {}) {
    this._max = Math.max(1, options.maxEntries ?? 20);
    this._dismissed = options.dismissed ?? new MemoryDismissedLog();
  }

  /** Emitted after every change of the entries. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Entries, newest first. */
  get entries(): readonly IBannerEntry[] {
    return [...this._entries.values()].sort((a, b) => b.seq - a.seq);
  }

  get size(): number {
    return this._entries.size;
  }

  get(key: string): IBannerEntry | undefined {
    return this._entries.get(key);
  }

  /** Take in one verdict. Only warn, confirm and block verdicts are shown. */
  add(record: IVerdictRecord): AddResult {
    const result = this._add(record);
    if (result === 'new' || result === 'repeat') {
      this._changed.emit();
    }
    return result;
  }

  /** Take in many verdicts (oldest first) with one change notification. */
  addAll(records: readonly IVerdictRecord[]): AddResult[] {
    const results = records.map(r => this._add(r));
    if (results.some(r => r === 'new' || r === 'repeat')) {
      this._changed.emit();
    }
    return results;
  }

  private _add(record: IVerdictRecord): AddResult {
    const payload = record.verdict;
    if (!isShown(payload.action)) {
      return 'ignored';
    }
    const id = recordId(record);
    if (this._seen.has(id)) {
      return 'duplicate';
    }
    this._seen.add(id);
    if (this._seen.size > MAX_SEEN) {
      const oldest = this._seen.values().next().value;
      if (oldest !== undefined) {
        this._seen.delete(oldest);
      }
    }
    if (this._dismissed.has(id)) {
      return 'dismissed';
    }
    const key = entryKey(payload);
    const existing = this._entries.get(key);
    const seq = ++this._seq;
    if (existing) {
      existing.count += 1;
      existing.seq = seq;
      // events can arrive out of order with the endpoint's list: the newest verdict wins
      if (!existing.lastTime || !record.time || record.time >= existing.lastTime) {
        existing.payload = payload;
        existing.lastTime = record.time ?? existing.lastTime;
        existing.msgId = record.msg_id ?? existing.msgId;
        existing.notebookPath = record.notebook_path ?? existing.notebookPath;
        existing.kernelId = record.kernel_id ?? existing.kernelId;
        if (payload.action === 'confirm') {
          existing.ack = 'none'; // a new token: the student may acknowledge again
        }
      }
      existing.msgIds = [...existing.msgIds, id].slice(-MAX_IDS_PER_ENTRY);
      return 'repeat';
    }
    this._entries.set(key, {
      key,
      action: payload.action,
      payload,
      count: 1,
      firstTime: record.time,
      lastTime: record.time,
      msgId: record.msg_id,
      notebookPath: record.notebook_path,
      kernelId: record.kernel_id,
      ack: 'none',
      seq,
      msgIds: [id]
    });
    while (this._entries.size > this._max) {
      const oldest = this.entries[this._entries.size - 1];
      this._entries.delete(oldest.key);
    }
    return 'new';
  }

  /** Remove an entry; its verdicts stay dismissed after a reload. */
  dismiss(key: string): boolean {
    const entry = this._entries.get(key);
    if (!entry) {
      return false;
    }
    this._entries.delete(key);
    this._dismissed.add(entry.msgIds);
    this._changed.emit();
    return true;
  }

  /** Remove every entry. */
  dismissAll(): void {
    if (!this._entries.size) {
      return;
    }
    for (const entry of this._entries.values()) {
      this._dismissed.add(entry.msgIds);
    }
    this._entries.clear();
    this._changed.emit();
  }

  /** Record where a confirm entry's "run anyway" stands. */
  setAck(key: string, ack: AckState): void {
    const entry = this._entries.get(key);
    if (entry && entry.ack !== ack) {
      entry.ack = ack;
      this._changed.emit();
    }
  }

  private _entries = new Map<string, IBannerEntry>();
  private _seen = new Set<string>();
  private _seq = 0;
  private _max: number;
  private _dismissed: IDismissedLog;
  private _changed = new Signal<this, void>(this);
}
