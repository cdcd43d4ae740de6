import type { CommandSpec } from '../registry.js';
import { rolesCommand } from './list.js';
import { roleRequestCommand } from './request.js';

export { rolesCommand } from './list.js';
export { ROLE_REQUEST_SUBJECT, roleRequestCommand, roleRequestSubject } from './request.js';

export const roleCommands: readonly CommandSpec[] = [rolesCommand, roleRequestCommand];
