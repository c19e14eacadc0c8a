import {
  entryKey,
  MemoryDismissedLog,
  StateDismissedLog,
  VerdictStore
} from '../src/model/verdicts';
import { payload, record } from './helpers';

/** IStateDB's fetch/save, in memory, answering later as the server-backed one does. */
class FakeState {
  data = new Map<string, unknown>();
  saves = 0;
  fail = false;
  async fetch(id: string): Promise<unknown> {
    await Promise.resolve();
    return this.data.get(id);
  }
  async save(id: string, value: string[]): Promise<void> {
    this.saves += 1;
    if (this.fail) {
      throw new Error('quota');
    }
    this.data.set(id, JSON.parse(JSON.stringify(value)));
  }
}

describe('VerdictStore', () => {
  it('collapses repeats of one rule into one entry with a count', () => {
    const store = new VerdictStore();
    const changed = jest.fn();
    store.changed.connect(changed);
    expect(store.add(record(payload()))).toBe('new');
    expect(store.add(record(payload()))).toBe('repeat');
    expect(store.add(record(payload()))).toBe('repeat');
    expect(store.entries).toHaveLength(1);
    expect(store.entries[0].count).toBe(3);
    expect(changed).toHaveBeenCalledTimes(3);
  });

  it('keeps each verdict once, whether from the event or the endpoint', () => {
    const store = new VerdictStore();
    const r = record(payload());
    expect(store.add(r)).toBe('new');
    expect(store.add({ ...r })).toBe('duplicate');
    expect(store.addAll([r, r])).toEqual(['duplicate', 'duplicate']);
    expect(store.entries[0].count).toBe(1);
  });

  it('keeps different rules and actions apart, newest first', () => {
    const store = new VerdictStore();
    store.add(record(payload({ ruleId: 'a' })));
    store.add(record(payload({ ruleId: 'b' })));
    store.add(record(payload({ ruleId: 'a', action: 'warn' })));
    expect(store.entries.map(e => e.key)).toEqual(['warn|a', 'block|b', 'block|a']);
    store.add(record(payload({ ruleId: 'b' })));
    expect(store.entries[0].key).toBe('block|b');
  });

  it('ignores log and allow verdicts', () => {
    const store = new VerdictStore();
    expect(store.add(record(payload({ action: 'log' })))).toBe('ignored');
    expect(store.size).toBe(0);
  });

  it('never grows past maxEntries: the oldest go', () => {
    const store = new VerdictStore({ maxEntries: 3 });
    for (let i = 0; i < 10; i++) {
      store.add(record(payload({ ruleId: `r${i}` })));
    }
    expect(store.entries.map(e => e.key)).toEqual(['block|r9', 'block|r8', 'block|r7']);
  });

  it('keeps dismissals across a reload, in the state database', async () => {
    const state = new FakeState();
    const log = new StateDismissedLog(state);
    await log.ready;
    const first = new VerdictStore({ dismissed: log });
    const r1 = record(payload());
    const r2 = record(payload());
    first.addAll([r1, r2]);
    expect(first.dismiss(entryKey(r1.verdict))).toBe(true);
    expect(first.size).toBe(0);
    await Promise.resolve();
    expect(state.data.get('jupyter-tos-guard:dismissed')).toEqual([
      `msg:${r1.msg_id}`,
      `msg:${r2.msg_id}`
    ]);

    const again = new StateDismissedLog(state);
    expect(again.has(`msg:${r1.msg_id}`)).toBe(false); // not known before it is read back
    await again.ready;
    const reloaded = new VerdictStore({ dismissed: again });
    expect(reloaded.addAll([r1, r2])).toEqual(['dismissed', 'dismissed']);
    expect(reloaded.size).toBe(0);
    // a new verdict of the same rule shows again
    expect(reloaded.add(record(payload()))).toBe('new');
  });

  it('keeps what was dismissed while the stored dismissals were read', async () => {
    const state = new FakeState();
    state.data.set('jupyter-tos-guard:dismissed', ['msg:old']);
    const log = new StateDismissedLog(state);
    log.add(['msg:early']);
    await log.ready;
    expect(log.has('msg:old') && log.has('msg:early')).toBe(true);
    await Promise.resolve();
    expect(state.data.get('jupyter-tos-guard:dismissed')).toEqual(['msg:old', 'msg:early']);
  });

  it('keeps only the newest dismissals', async () => {
    const state = new FakeState();
    const log = new StateDismissedLog(state, 'k', 3);
    await log.ready;
    log.add(['a', 'b', 'c', 'd']);
    expect(['a', 'b', 'c', 'd'].map(id => log.has(id))).toEqual([false, true, true, true]);
  });

  it('survives a broken state database', async () => {
    const state = new FakeState();
    state.data.set('jupyter-tos-guard:dismissed', '{not a list');
    const log = new StateDismissedLog(state);
    await log.ready;
    expect(log.has('x')).toBe(false);
    state.fail = true;
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    log.add(['a']);
    expect(log.has('a')).toBe(true); // for this page, at least
    await new Promise(resolve => setTimeout(resolve, 0));
    expect(warn).toHaveBeenCalled();
    warn.mockRestore();
    const unreadable = new StateDismissedLog({
      fetch: () => Promise.reject(new Error('offline')),
      save: () => Promise.resolve()
    });
    await expect(unreadable.ready).resolves.toBeUndefined();
  });

  it('dismissAll empties the store', () => {
    const dismissed = new MemoryDismissedLog();
    const store = new VerdictStore({ dismissed });
    const r = record(payload({ ruleId: 'a' }));
    store.addAll([r, record(payload({ ruleId: 'b' }))]);
    store.dismissAll();
    expect(store.size).toBe(0);
    expect(dismissed.has(`msg:${r.msg_id}`)).toBe(true);
  });

  it('takes the newest confirm token and offers the acknowledgement again', () => {
    const store = new VerdictStore();
    const first = record(payload({ action: 'confirm', confirm: { token: 't1', expires: null } }));
    store.add(first);
    const key = store.entries[0].key;
    store.setAck(key, 'done');
    store.add(record(payload({ action: 'confirm', confirm: { token: 't2', expires: null } })));
    expect(store.get(key)?.payload.confirm?.token).toBe('t2');
    expect(store.get(key)?.ack).toBe('none');
    expect(store.get(key)?.count).toBe(2);
  });

  it('keeps the newest verdict when older ones arrive late (endpoint after event)', () => {
    const store = new VerdictStore();
    const late = record(payload({ action: 'confirm', confirm: { token: 'old', expires: null } }));
    const newer = record(payload({ action: 'confirm', confirm: { token: 'new', expires: null } }));
    store.add(newer);
    store.add(late);
    expect(store.entries[0].payload.confirm?.token).toBe('new');
    expect(store.entries[0].count).toBe(2);
  });

  it('keys entries by action and rule set, in any order', () => {
    const p = payload();
    const two = {
      ...p,
      rules: [
        { ...p.rules[0], id: 'b' },
        { ...p.rules[0], id: 'a' }
      ]
    };
    expect(entryKey(two)).toBe('block|a,b');
    expect(entryKey(payload({ rules: [], reason: 'engine failed' }))).toBe('block|engine failed');
  });
});
