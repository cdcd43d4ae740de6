import { z } from 'zod';
import { ProjectSlug } from '../../../commands/inventory/schema.js';
import {
  getProjectSettings,
  putProjectSettings,
  SETTINGS_SECTIONS,
} from '../../../commands/inventory/settings.js';
import { type ApiRoute, defineRoute } from '../registry.js';

const SlugParam = z.object({ slug: ProjectSlug });
const SectionParam = z.object({ slug: ProjectSlug, section: z.enum(SETTINGS_SECTIONS) });
const Sections = z.object(Object.fromEntries(SETTINGS_SECTIONS.map((s) => [s, z.unknown().optional()])));

export const settingsRoutes: ApiRoute[] = [
  defineRoute({
    method: 'get',
    path: '/projects/{slug}/settings',
    operationId: 'getProjectSettings',
    summary: "A project's stored settings sections; a section left out uses its defaults (inventory:read)",
    tag: 'inventory',
    permission: 'inventory:read',
    params: SlugParam,
    response: Sections,
    handler: async ({ params, deps, actor }) => getProjectSettings(deps, actor, { slug: params.slug }),
  }),
  defineRoute({
    method: 'put',
    path: '/projects/{slug}/settings/{section}',
    operationId: 'putProjectSettings',
    summary: 'Replace one settings section of a project (inventory:write on the project)',
    description:
      'Sections: approvals, scan, access, keys, compliance, reports. The value is checked by the code that ' +
      'reads it; every problem is listed in a 400 and nothing is written. `null` removes the section so its ' +
      'defaults apply. The trail records the old and new value.',
    tag: 'inventory',
    permission: 'inventory:write',
    params: SectionParam,
    body: z.union([z.record(z.string(), z.unknown()), z.null()]),
    bodyFormats: ['json', 'yaml'],
    response: z.object({ section: z.enum(SETTINGS_SECTIONS), value: z.unknown() }),
    handler: async ({ params, body, deps, actor, meta }) => ({
      section: params.section,
      value: await putProjectSettings(
        deps,
        actor,
        { slug: params.slug, section: params.section, value: body },
        meta,
      ),
    }),
  }),
];
