import {
  entryKey,
  MemoryDismissedLog,
  StorageDismissedLog,
  VerdictStore
} from '../src/model/verdicts';
import { payload, record } from './helpers';

class FakeStorage {
  data = new Map<string, string>();
  getItem(k: string) {
    return this.data.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.data.set(k, v);
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

  it('keeps dismissals across a reload', () => {
    const storage = new FakeStorage();
    const first = new VerdictStore({ dismissed: new StorageDismissedLog(storage) });
    const r1 = record(payload());
    const r2 = record(payload());
    first.addAll([r1, r2]);
    expect(first.dismiss(entryKey(r1.verdict))).toBe(true);
    expect(first.size).toBe(0);

    const reloaded = new VerdictStore({ dismissed: new StorageDismissedLog(storage) });
    expect(reloaded.addAll([r1, r2])).toEqual(['dismissed', 'dismissed']);
    expect(reloaded.size).toBe(0);
    // a new verdict of the same rule shows again
    expect(reloaded.add(record(payload()))).toBe('new');
  });

  it('survives broken storage', () => {
    const storage = new FakeStorage();
    storage.setItem('jupyter-tos-guard:dismissed', '{not json');
    const log = new StorageDismissedLog(storage);
    expect(log.has('x')).toBe(false);
    const full = {
      getItem: () => null,
      setItem: () => {
        throw new Error('quota');
      }
    };
    const log2 = new StorageDismissedLog(full);
    log2.add(['a']);
    expect(log2.has('a')).toBe(true);
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
