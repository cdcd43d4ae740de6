import { z } from 'zod';
import { AppError } from '../../lib/errors.js';
import type { Project } from '../../storage/inventory.js';
import { BASELINES } from './default-linux.js';
import type { Baseline } from './types.js';

/**
 * A project's baseline settings, beside the compliance standards (commands/compliance/standards.ts)
 * under projects.settings.compliance.baseline:
 *   { "enabled": true, "name": "default-linux", "openTickets": true }
 * enabled: run the baseline after each successful scan and count it in compliance; openTickets:
 * a drift opens a change request in the ticket system (when one is configured).
 */
export const BaselineSettings = z
  .object({
    enabled: z.boolean().default(true),
    name: z.string().default('default-linux'),
    openTickets: z.boolean().default(true),
  })
  .strip();
export type BaselineSettings = z.infer<typeof BaselineSettings>;

export function baselineSettings(
  project: Pick<Project, 'settings' | 'slug'> | null | undefined,
): BaselineSettings {
  const compliance = project?.settings.compliance;
  const raw =
    compliance && typeof compliance === 'object' && !Array.isArray(compliance)
      ? ((compliance as Record<string, unknown>).baseline ?? {})
      : {};
  const parsed = BaselineSettings.safeParse(raw);
  if (!parsed.success) {
    // A broken setting must not stop scans: fall back to the defaults (and say so where shown).
    return BaselineSettings.parse({});
  }
  return parsed.data;
}

export function baselineNamed(name: string): Baseline {
  const baseline = BASELINES.get(name);
  if (!baseline) {
    throw new AppError(
      'bad_request',
      `there is no baseline called ${name}; known baselines: ${[...BASELINES.keys()].join(', ')}`,
    );
  }
  return baseline;
}
