import { accessCommands, accessForms } from './access/chat.js';
import { approvalActions } from './approvals/actions.js';
import { approvalCommands } from './approvals/commands.js';
import { auditReportCommand } from './audit/report-chat.js';
import { baselineActions, baselineCommands } from './baselines/chat.js';
import { complianceCommands } from './compliance/chat.js';
import { dashboardCommand, dashboardOpenAction } from './compliance/dashboard-link.js';
import { createHelpCommand } from './help/index.js';
import { inventoryCommands } from './inventory/chat.js';
import { keysCommands } from './keys/chat.js';
import { patchingCommands } from './patching/chat.js';
import { patchRunCommands } from './patching/run-chat.js';
import type { ActionSpec, CommandSpec, FormSpec, Registry } from './registry.js';
import { roleCommands } from './roles/index.js';
import { scanningCommands } from './scanning/chat.js';
import { scriptCommands, scriptForms } from './scripts/chat.js';
import { whoamiCommand } from './whoami/index.js';

/**
 * Every chat command, button and form Warden knows, in one registry for the router. Each
 * capability adds its specs with one line in the matching list below.
 */
export function createRegistry(): Registry {
  const commands: CommandSpec[] = [
    whoamiCommand,
    ...inventoryCommands,
    ...approvalCommands,
    ...roleCommands,
    ...scanningCommands,
    ...accessCommands,
    ...keysCommands,
    auditReportCommand,
    ...scriptCommands,
    ...patchingCommands,
    ...patchRunCommands,
    ...complianceCommands,
    dashboardCommand,
    ...baselineCommands,
    // capabilities: add CommandSpecs here, one line each
  ];
  const actions: ActionSpec[] = [
    ...approvalActions,
    ...baselineActions,
    dashboardOpenAction,
    // capabilities: add ActionSpecs here, one line each
  ];
  const forms: FormSpec[] = [
    ...accessForms,
    ...scriptForms,
    // capabilities: add FormSpecs here, one line each
  ];
  const registry: Registry = { commands, actions, forms };
  // help reads the registry when it runs, so it lists everything above.
  commands.unshift(createHelpCommand(registry));
  return registry;
}
