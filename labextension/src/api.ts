/**
 * The guard's REST API (GET policy, GET verdicts), through JupyterLab's authenticated
 * ServerConnection so the token / XSRF handling is JupyterLab's own.
 */

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { IPolicySummary, IVerdictRecord, parseRecord } from './types';

export class GuardAPI {
  constructor(private readonly settings: ServerConnection.ISettings) {}

  private async get(path: string, query: Record<string, string> = {}): Promise<unknown> {
    const search = new URLSearchParams(query).toString();
    const url =
      URLExt.join(this.settings.baseUrl, 'tos-guard', path) + (search ? `?${search}` : '');
    const response = await ServerConnection.makeRequest(url, { method: 'GET' }, this.settings);
    if (!response.ok) {
      let message = response.statusText;
      try {
        const body = await response.json();
        message = body?.message || message;
      } catch {
        // not JSON
      }
      throw new ServerConnection.ResponseError(response, message);
    }
    return response.json();
  }

  /** The operator's policy, as students may see it. */
  async policy(): Promise<IPolicySummary> {
    return (await this.get('policy')) as IPolicySummary;
  }

  /** This server's recent warn/confirm/block verdicts for one kernel, oldest first. */
  async verdicts(kernelId: string): Promise<IVerdictRecord[]> {
    const body = (await this.get('verdicts', { kernel_id: kernelId })) as { verdicts?: unknown };
    const items = Array.isArray(body?.verdicts) ? body.verdicts : [];
    return items.map(parseRecord).filter((r): r is IVerdictRecord => r !== null);
  }

  /**
   * What the policy finds in a notebook or script as it is opened: a notice-only record
   * ("this notebook contains code that these terms prohibit: cells 3, 7"), or null.
   */
  async file(path: string): Promise<IVerdictRecord | null> {
    const body = (await this.get('file', { path })) as { verdict?: unknown };
    if (!body?.verdict) {
      return null;
    }
    return parseRecord({
      time: null,
      kernel_id: null,
      msg_id: `file:${path}`,
      notebook_path: path,
      verdict: body.verdict
    });
  }
}
