/**
 * The frontend's side of the verdict contract: the payloads these tests render, and what
 * `parseVerdict` keeps of them, match the schema the server's payloads are tested against
 * (jupyter_tos_guard/events/verdict.schema.json).
 */
import Ajv2020 from 'ajv/dist/2020';
import * as fs from 'fs';
import * as path from 'path';

import { parseVerdict } from '../src/types';
import { payload } from './helpers';

const schema = JSON.parse(
  fs.readFileSync(
    path.join(__dirname, '..', '..', 'jupyter_tos_guard', 'events', 'verdict.schema.json'),
    'utf8'
  )
);
const validate = new Ajv2020({ allErrors: true }).compile(schema);

function errors(value: unknown): string {
  return validate(value) ? '' : JSON.stringify(validate.errors);
}

describe('the verdict schema', () => {
  it('accepts the payloads the tests render', () => {
    expect(errors(payload())).toBe('');
    expect(errors(payload({ action: 'warn' }))).toBe('');
    expect(errors(payload({ action: 'confirm', confirm: { token: 't', expires: null } }))).toBe('');
    expect(errors(payload({ rules: [], reason: 'The check could not be completed.' }))).toBe('');
  });

  it('accepts what parseVerdict keeps of a valid payload', () => {
    for (const p of [payload(), payload({ action: 'warn', contact: 'help@example.org' })]) {
      const parsed = parseVerdict(p);
      expect(parsed).not.toBeNull();
      expect(errors(JSON.parse(JSON.stringify(parsed)))).toBe('');
    }
  });

  it('knows every action parseVerdict shows, and nothing it would silently drop', () => {
    const actions: string[] = schema.properties.action.enum;
    for (const action of actions) {
      const parsed = parseVerdict({ ...payload(), action });
      // `acknowledged`: the student already chose to run it; nothing is left to show
      expect(parsed === null).toBe(action === 'acknowledged');
    }
  });

  it('rejects payloads the frontend does not know', () => {
    expect(errors({ ...payload(), action: 'explode' })).not.toBe('');
    expect(errors({ ...payload(), unknown_field: 1 })).not.toBe('');
    const noRules: Record<string, unknown> = { ...payload() };
    delete noRules.rules;
    expect(errors(noRules)).not.toBe('');
  });
});
