/**
 * The student's settings: what the schema (schema/plugin.json) offers, how the registry's values
 * are read, and what they change.
 */
import Ajv from 'ajv';
import * as fs from 'fs';
import * as path from 'path';

import { DEFAULT_SETTINGS, GuardSettings, readSettings, toastOptions } from '../src/settings';

const schema = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', 'schema', 'plugin.json'), 'utf8')
);

function defaults(): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(schema.properties as Record<string, { default: unknown }>).map(([k, v]) => [
      k,
      v.default
    ])
  );
}

describe('the settings schema', () => {
  it('is one JupyterLab can show, and its defaults are the built-in ones', () => {
    const validate = new Ajv({ strict: false }).compile(schema);
    expect(validate(defaults())).toBe(true);
    expect(validate({ ...defaults(), bannerMaxHeight: 90 })).toBe(false);
    expect(validate({ ...defaults(), surprise: 1 })).toBe(false);
    expect(schema['jupyter.lab.setting-icon']).toBe('ui-components:info');
    expect(readSettings(defaults())).toEqual(DEFAULT_SETTINGS);
    // package.json tells the builder where the schema is
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8'));
    expect(pkg.jupyterlab.schemaDir).toBe('schema');
    expect(pkg.files).toContain('schema/*.json');
  });
});

describe('readSettings', () => {
  it('turns percent and seconds into a fraction and milliseconds', () => {
    expect(
      readSettings({ bannerMaxHeight: 25, notifications: false, notificationTimeout: 2.5 })
    ).toEqual({ bannerMaxHeight: 0.25, notifications: false, notificationTimeout: 2500 });
  });

  it('bounds what a hand-edited settings file may hold', () => {
    const odd = readSettings({
      bannerMaxHeight: 500,
      notifications: 'yes',
      notificationTimeout: -3
    });
    expect(odd).toEqual({ bannerMaxHeight: 0.5, notifications: true, notificationTimeout: 0 });
    expect(readSettings({ bannerMaxHeight: NaN })).toEqual(DEFAULT_SETTINGS);
    expect(readSettings({})).toEqual(DEFAULT_SETTINGS);
  });
});

describe('toastOptions', () => {
  it('closes warnings after the time-out and keeps the others until closed', () => {
    const settings = readSettings({ notificationTimeout: 3 });
    expect(toastOptions('warn', settings)).toEqual({ type: 'warning', autoClose: 3000 });
    expect(toastOptions('block', settings)).toEqual({ type: 'error', autoClose: false });
    expect(toastOptions('confirm', settings)).toEqual({ type: 'error', autoClose: false });
    expect(toastOptions('warn', readSettings({ notificationTimeout: 0 }))).toEqual({
      type: 'warning',
      autoClose: false
    });
  });

  it('shows none when notifications are off', () => {
    const off = readSettings({ notifications: false });
    expect(toastOptions('warn', off)).toBeNull();
    expect(toastOptions('block', off)).toBeNull();
  });
});

describe('GuardSettings', () => {
  it('starts from the defaults and says when a value changes, only then', () => {
    const settings = new GuardSettings();
    expect(settings.current).toEqual(DEFAULT_SETTINGS);
    const changed = jest.fn();
    settings.changed.connect((_, value) => changed(value));
    settings.update(defaults());
    expect(changed).not.toHaveBeenCalled();
    settings.update({ ...defaults(), bannerMaxHeight: 30 });
    expect(changed).toHaveBeenCalledTimes(1);
    expect(changed.mock.calls[0][0].bannerMaxHeight).toBe(0.3);
    expect(settings.current.bannerMaxHeight).toBe(0.3);
  });
});
