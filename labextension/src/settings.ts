/**
 * The student's settings (JupyterLab's settings registry, schema/plugin.json): how large the
 * banner may grow and whether and for how long notifications appear. Values arrive from the
 * registry already validated against the schema; `readSettings` still bounds them, since a
 * hand-edited or stale settings file may hold anything.
 */

import { ISignal, Signal } from '@lumino/signaling';

import type { Action } from './types';

export interface IGuardSettings {
  /** the most of the notebook's height the banner may take, as a fraction (0.05–0.5) */
  readonly bannerMaxHeight: number;
  /** notifications for verdicts of notebooks not in view */
  readonly notifications: boolean;
  /** milliseconds a warning's notification stays; 0: until closed */
  readonly notificationTimeout: number;
}

export const DEFAULT_SETTINGS: IGuardSettings = {
  bannerMaxHeight: 0.15,
  notifications: true,
  notificationTimeout: 8000
};

function bounded(value: unknown, min: number, max: number, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value)
    ? Math.min(max, Math.max(min, value))
    : fallback;
}

/** The settings from the registry's composite values (percent and seconds, as the schema says). */
export function readSettings(composite: Record<string, unknown>): IGuardSettings {
  return {
    bannerMaxHeight: bounded(composite.bannerMaxHeight, 5, 50, 15) / 100,
    notifications:
      typeof composite.notifications === 'boolean'
        ? composite.notifications
        : DEFAULT_SETTINGS.notifications,
    notificationTimeout: Math.round(bounded(composite.notificationTimeout, 0, 3600, 8) * 1000)
  };
}

/** How a verdict's notification appears under these settings; null: no notification. */
export function toastOptions(
  action: Action,
  settings: IGuardSettings
): { type: 'warning' | 'error'; autoClose: number | false } | null {
  if (!settings.notifications) {
    return null;
  }
  if (action === 'warn') {
    return { type: 'warning', autoClose: settings.notificationTimeout || false };
  }
  return { type: 'error', autoClose: false };
}

/** The current settings, and a signal when they change. */
export class GuardSettings {
  get current(): IGuardSettings {
    return this._current;
  }

  get changed(): ISignal<this, IGuardSettings> {
    return this._changed;
  }

  /** Take new values (the registry's composite); emits only when something changed. */
  update(composite: Record<string, unknown>): void {
    const next = readSettings(composite);
    const now = this._current;
    if (
      next.bannerMaxHeight === now.bannerMaxHeight &&
      next.notifications === now.notifications &&
      next.notificationTimeout === now.notificationTimeout
    ) {
      return;
    }
    this._current = next;
    this._changed.emit(next);
  }

  private _current: IGuardSettings = DEFAULT_SETTINGS;
  private _changed = new Signal<this, IGuardSettings>(this);
}
